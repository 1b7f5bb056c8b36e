"""The contract state: what of a charging contract changes over time, as frozen records.

A contract state is what a migration moves from a former system into kopek (or
from one kopek database to another): the contract's last snapshot, its shared
counters, the counters of each contract item and its charge and refill
activations. Master data (validity, items, roles) is not part of it; it is loaded
beforehand as master data.

Counter values are exact numbers, written in JSON as strings: a decimal, or ``n/d`` when
the value has no finite decimal expansion (a third of a minute). Dates are time-zone aware.
Each state carries ``format_version`` so that the JSON lines format can evolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, PlainSerializer, PlainValidator, WithJsonSchema

from kopek import limits
from kopek.domain.activations import ActivationKind, ActivationStatus
from kopek.domain.catalog import EXACT_NUMBER_PATTERN, Frozen, Name
from kopek.domain.units import Unit
from kopek.money import Exact, NotADecimalError, exact, exact_text, parse_exact, to_decimal

CONTRACT_STATE_FORMAT_VERSION = 3
"""The version of the contract state format that this kopek writes; it also reads version 1 (whose counters
carry no reset period and no expiry, and whose activations carry no counters) and version 2 (whose counter
values are decimals only, never ``n/d``)."""

CONTRACT_NAMESPACE = "contract"
"""The namespace of counters shared by every contract item of a contract (catalog scope ``contract``); reserved: a
counter of scope ``shared`` cannot be in it."""


def _counter_value(value: object) -> Exact:
    # One check for both rules (exact number, bounded digits): a restore reads millions of values.
    if isinstance(value, Fraction) or (isinstance(value, str) and "/" in value):
        try:
            number = Fraction(parse_exact(value))
        except NotADecimalError as error:
            raise ValueError(str(error)) from error
        if max(len(str(abs(number.numerator))), len(str(number.denominator))) > limits.DECIMAL_DIGITS_MAX:
            raise ValueError(f"a counter value's numerator and denominator have at most {limits.DECIMAL_DIGITS_MAX} digits each")
        return exact(number)
    try:
        decimal_value = to_decimal(value)
    except NotADecimalError as error:
        raise ValueError(str(error)) from error
    _, digits, exponent = decimal_value.as_tuple()
    assert isinstance(exponent, int), "to_decimal returns finite numbers only"
    total = len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)
    if total > limits.DECIMAL_DIGITS_MAX:
        raise ValueError(f"a counter value has at most {limits.DECIMAL_DIGITS_MAX} digits in total")
    return exact(decimal_value)


CounterValue = Annotated[
    Exact,
    PlainValidator(_counter_value),
    PlainSerializer(exact_text, return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": EXACT_NUMBER_PATTERN}, {"type": "integer"}]}),
]
"""An exact counter value (a string or an integer, never a binary float): a decimal of at most
``DECIMAL_DIGITS_MAX`` digits, the bound of every stored decimal, or ``n/d`` with at most as many
digits in each part."""
Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]


class CounterState(Frozen):
    """The stored value of one counter, exact, in the unit the catalog declares for it.

    ``period_start`` is the start of the reset period the value belongs to (None: the counter
    never reset); from ``expires_at`` on (None: never) the counter holds its initial value again.
    """

    name: Name
    unit: Unit
    value: CounterValue
    period_start: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None


class SharedCounterState(Frozen):
    """A counter shared beyond one contract item; ``namespace`` says with whom.

    Namespace ``contract``: a counter of scope ``contract``, shared by every contract item of the
    contract. Any other namespace: a counter of scope ``shared`` in that namespace (a family pool),
    shared by every contract whose plans declare it; each of those contracts' states carries it.
    """

    namespace: Name = CONTRACT_NAMESPACE
    name: Name
    unit: Unit
    value: CounterValue
    period_start: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None


class ActivationState(Frozen):
    """A charge or refill activation of a contract item (managed by kopek in the background).

    ``last_activation_date`` is ``None`` when the activation never ran. ``counters`` are the
    counters of scope ``activation`` the contract item's charge plan declares.
    """

    id: Identifier
    item_id: Identifier
    kind: ActivationKind
    status: ActivationStatus
    last_activation_date: AwareDatetime | None = None
    counters: tuple[CounterState, ...] = ()


class ContractItemState(Frozen):
    """The counters of one contract item (scope ``contract_item``)."""

    item_id: Identifier
    counters: tuple[CounterState, ...] = ()


class ContractState(Frozen):
    """Everything of one charging contract that changes over time.

    ``last_snapshot_date`` and ``snapshot_days`` are ``None`` when the contract was never
    snapshotted. A counter absent from the state holds its catalog initial value.
    """

    format_version: Literal[1, 2, 3] = Field(description="The version of this format; this kopek writes 3 and reads 1, 2 and 3.")
    contract_id: Identifier
    last_snapshot_date: AwareDatetime | None = None
    snapshot_days: Annotated[int, Field(ge=0, le=100_000)] | None = None
    shared_counters: tuple[SharedCounterState, ...] = ()
    items: tuple[ContractItemState, ...] = ()
    activations: tuple[ActivationState, ...] = ()

    def line(self) -> str:
        """This state as one JSON line (no newline), keys in a stable order."""
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def contract_state_json_schema() -> dict[str, Any]:
    """The JSON Schema of one line of a contract states file, published as docs/contract-state.schema.json."""
    schema = ContractState.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://kopek.dev/schemas/contract-state-v{CONTRACT_STATE_FORMAT_VERSION}.json"
    return schema


def dates_of(state: ContractState) -> Iterator[tuple[str, datetime]]:
    """Every date a state holds that must not be in the future, named by where it is.

    A counter's ``period_start`` is such a date (its period has begun); its ``expires_at`` is not.
    Names are spelled only for the dates present: a restore checks millions of states.
    """
    if state.last_snapshot_date is not None:
        yield "last_snapshot_date", state.last_snapshot_date
    for shared in state.shared_counters:
        if shared.period_start is not None:
            yield f"shared_counters[{shared.namespace}/{shared.name}].period_start", shared.period_start
    for item in state.items:
        for counter in item.counters:
            if counter.period_start is not None:
                yield f"items[{item.item_id}].counters[{counter.name}].period_start", counter.period_start
    for activation in state.activations:
        if activation.last_activation_date is not None:
            yield f"activations[{activation.id}].last_activation_date", activation.last_activation_date
        for counter in activation.counters:
            if counter.period_start is not None:
                yield f"activations[{activation.id}].counters[{counter.name}].period_start", counter.period_start

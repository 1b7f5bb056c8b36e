"""The contract state: what of a charging contract changes over time, as frozen records.

A contract state is what a migration moves from a former system into kopek (or
from one kopek database to another): the contract's last snapshot, its shared
counters, the counters of each contract item and its charge and refill
activations. Master data (validity, items, roles) is not part of it; it is loaded
beforehand as master data.

Values are exact decimals, written in JSON as strings. Dates are time-zone aware.
Each state carries ``format_version`` so that the JSON lines format can evolve.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from kopek import limits
from kopek.domain.catalog import Dec, Frozen, Name
from kopek.domain.units import Unit

CONTRACT_STATE_FORMAT_VERSION = 1
"""The version of the contract state format that this kopek writes and reads."""

CONTRACT_NAMESPACE = "contract"
"""The namespace of counters shared by every contract item of a contract (catalog scope ``contract``)."""


CounterValue = Annotated[Dec, Field(max_digits=limits.DECIMAL_DIGITS_MAX)]
"""An exact counter value of at most ``DECIMAL_DIGITS_MAX`` digits (the bound of every stored decimal)."""
Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]


class CounterState(Frozen):
    """The stored value of one counter, in the unit the catalog declares for it."""

    name: Name
    unit: Unit
    value: CounterValue


class SharedCounterState(Frozen):
    """A counter shared by several contract items; ``namespace`` restricts which items share it.

    Today the catalog knows one namespace, ``contract``: counters of scope ``contract``,
    shared by every contract item of the contract.
    """

    namespace: Name = CONTRACT_NAMESPACE
    name: Name
    unit: Unit
    value: CounterValue


class ActivationKind(StrEnum):
    CHARGE = "charge"
    REFILL = "refill"


class ActivationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class ActivationState(Frozen):
    """A charge or refill activation of a contract item (managed by kopek in the background).

    ``last_activation_date`` is ``None`` when the activation never ran.
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

    format_version: Literal[1] = Field(description="The version of this format; this kopek reads and writes 1.")
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


def dates_of(state: ContractState) -> list[tuple[str, datetime]]:
    """Every date a state holds, named by where it is, for the not-in-the-future check."""
    named = [("last_snapshot_date", state.last_snapshot_date)]
    named += [(f"activations[{activation.id}].last_activation_date", activation.last_activation_date) for activation in state.activations]
    return [(where, moment) for where, moment in named if moment is not None]

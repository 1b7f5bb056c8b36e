"""The values a rating produces and the rest of the domain reads: charged items, notifications, counter
changes and the keys of counter values.

They live in the domain, not in :mod:`kopek.rating`, because posting to accounts, refills and the
stores use them too; rating builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from kopek.domain.catalog import CounterScope, Output
from kopek.domain.units import Unit
from kopek.money import Exact


class _CounterKeyFields(NamedTuple):
    contract_id: str
    item_id: str
    name: str
    scope: CounterScope = CounterScope.CONTRACT_ITEM
    namespace: str = ""


class CounterKey(_CounterKeyFields):
    """Where a counter value lives.

    ``contract_id`` is the contract that keeps it (``""`` for a shared counter, which lives
    in ``namespace``); ``item_id`` the contract item (scopes ``contract_item`` and
    ``transient``) or the activation (scope ``activation``), ``""`` for scopes ``contract``
    and ``shared``. The default scope with an empty ``item_id`` means scope ``contract``.

    Keys are looked up in dictionaries several times for each rated item: a named tuple (immutable, typed, ordered
    field by field) is hashed without a Python call.
    """

    __slots__ = ()

    def __new__(
        cls, contract_id: str, item_id: str, name: str, scope: CounterScope = CounterScope.CONTRACT_ITEM, namespace: str = ""
    ) -> CounterKey:
        if scope is CounterScope.CONTRACT_ITEM and item_id == "":
            scope = CounterScope.CONTRACT
        return tuple.__new__(cls, (contract_id, item_id, name, scope, namespace))

    def __repr__(self) -> str:
        return (
            f"CounterKey(contract_id={self.contract_id!r}, item_id={self.item_id!r}, name={self.name!r}, "
            f"scope={self.scope!r}, namespace={self.namespace!r})"
        )


class NotificationKind(StrEnum):
    NO_ACCESS = "no_access"
    ALLOWANCE_EXHAUSTED = "allowance_exhausted"
    USAGE_ABOVE_GRANT = "usage_above_grant"
    CAP_REACHED = "cap_reached"
    THRESHOLD_CROSSED = "threshold_crossed"
    LOW_BALANCE = "low_balance"
    FEE_APPLIED = "fee_applied"
    REFILL_APPLIED = "refill_applied"


@dataclass(frozen=True, slots=True)
class Notification:
    """A business event worth telling the operator or the customer about."""

    kind: NotificationKind
    message: str
    data: dict[str, str] = field(default_factory=dict)


class ChargedItem(NamedTuple):
    """The priced result of one charge for one chargeable item (amount already rounded).

    An immutable typed record like the dataclasses of the domain, made as a named tuple because rating makes one for
    every charge of every item and a tuple is the cheapest immutable value Python builds (see
    ``docs/performance.md``)."""

    contract_item_id: str
    charge_plan: str
    charge: str
    account_role: str
    amount: Decimal
    currency: str
    quantity: Decimal
    """The item's quantity in ``quantity_unit``, as the item gave it."""
    quantity_unit: Unit | None
    output: Output


class CounterChange(NamedTuple):
    """A counter's value before and after an item, exact and in the counter's ``unit`` (a third of a minute is
    ``Fraction(1, 3)``); ``period_start`` is the start of the reset period ``after`` belongs to and
    ``expires_at`` when ``after`` lapses (none: never). A named tuple, as :class:`ChargedItem`."""

    key: CounterKey
    unit: Unit
    before: Exact
    after: Exact
    period_start: datetime | None = None
    expires_at: datetime | None = None

    @property
    def delta(self) -> Exact:
        return self.after - self.before

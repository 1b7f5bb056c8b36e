"""The values a rating produces and the rest of the domain reads: charged items, notifications, counter
changes and the keys of counter values.

They live in the domain, not in :mod:`kopek.rating`, because posting to accounts, refills and the
stores use them too; rating builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from kopek.domain.catalog import CounterScope, Output
from kopek.domain.units import Unit
from kopek.money import Exact


@dataclass(frozen=True, slots=True, order=True)
class CounterKey:
    """Where a counter value lives.

    ``contract_id`` is the contract that keeps it (``""`` for a shared counter, which lives
    in ``namespace``); ``item_id`` the contract item (scopes ``contract_item`` and
    ``transient``) or the activation (scope ``activation``), ``""`` for scopes ``contract``
    and ``shared``. The default scope with an empty ``item_id`` means scope ``contract``.

    Keys are looked up in dictionaries several times for each rated item, so each computes
    its hash once.
    """

    contract_id: str
    item_id: str
    name: str
    scope: CounterScope = CounterScope.CONTRACT_ITEM
    namespace: str = ""
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scope is CounterScope.CONTRACT_ITEM and self.item_id == "":
            object.__setattr__(self, "scope", CounterScope.CONTRACT)
        object.__setattr__(self, "_hash", hash((self.contract_id, self.item_id, self.name, self.scope, self.namespace)))

    def __hash__(self) -> int:
        return self._hash


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


@dataclass(frozen=True, slots=True, init=False)
class ChargedItem:
    """The priced result of one charge for one chargeable item (amount already rounded)."""

    contract_item_id: str
    charge_plan: str
    charge: str
    account_role: str
    amount: Decimal
    currency: str
    quantity: Decimal
    quantity_unit: Unit | None
    output: Output

    def __init__(
        self,
        contract_item_id: str,
        charge_plan: str,
        charge: str,
        account_role: str,
        amount: Decimal,
        currency: str,
        quantity: Decimal,
        quantity_unit: Unit | None,
        output: Output,
    ) -> None:
        # What the dataclass's own __init__ does, with the slots' setters looked up once (below), not for each
        # field of each item: rating makes one for every charge of every item.
        _set_item_id(self, contract_item_id)
        _set_plan(self, charge_plan)
        _set_charge(self, charge)
        _set_role(self, account_role)
        _set_amount(self, amount)
        _set_currency(self, currency)
        _set_quantity(self, quantity)
        _set_unit(self, quantity_unit)
        _set_output(self, output)


(_set_item_id, _set_plan, _set_charge, _set_role, _set_amount, _set_currency, _set_quantity, _set_unit, _set_output) = (
    ChargedItem.__dict__[each.name].__set__ for each in fields(ChargedItem)
)


@dataclass(frozen=True, slots=True, init=False)
class CounterChange:
    """A counter's value before and after an item, exact and in the counter's ``unit`` (a third of a minute is
    ``Fraction(1, 3)``); ``period_start`` is the start of the reset period ``after`` belongs to and
    ``expires_at`` when ``after`` lapses (none: never)."""

    key: CounterKey
    unit: Unit
    before: Exact
    after: Exact
    period_start: datetime | None = None
    expires_at: datetime | None = None

    def __init__(
        self,
        key: CounterKey,
        unit: Unit,
        before: Exact,
        after: Exact,
        period_start: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        # The dataclass's own __init__, with the slots' setters looked up once (rating makes one per changed counter).
        _set_key(self, key)
        _set_counter_unit(self, unit)
        _set_before(self, before)
        _set_after(self, after)
        _set_period_start(self, period_start)
        _set_expires_at(self, expires_at)

    @property
    def delta(self) -> Exact:
        return self.after - self.before


_set_key, _set_counter_unit, _set_before, _set_after, _set_period_start, _set_expires_at = (
    CounterChange.__dict__[each.name].__set__ for each in fields(CounterChange)
)

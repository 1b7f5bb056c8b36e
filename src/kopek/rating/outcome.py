"""What rating produces: charged items, counter changes and notifications, as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from kopek.domain.catalog import CounterScope, Output
from kopek.domain.units import Unit


@dataclass(frozen=True, slots=True, order=True)
class CounterKey:
    """Where a counter value lives.

    ``contract_id`` is the contract that keeps it (``""`` for a shared counter, which lives
    in ``namespace``); ``item_id`` the contract item (scopes ``contract_item`` and
    ``transient``) or the activation (scope ``activation``), ``""`` for scopes ``contract``
    and ``shared``. The default scope with an empty ``item_id`` means scope ``contract``.
    """

    contract_id: str
    item_id: str
    name: str
    scope: CounterScope = CounterScope.CONTRACT_ITEM
    namespace: str = ""

    def __post_init__(self) -> None:
        if self.scope is CounterScope.CONTRACT_ITEM and self.item_id == "":
            object.__setattr__(self, "scope", CounterScope.CONTRACT)


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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class CounterChange:
    """A counter's value before and after an item; ``period_start`` is the start of the reset
    period ``after`` belongs to and ``expires_at`` when ``after`` lapses (none: never)."""

    key: CounterKey
    unit: Unit
    before: Decimal
    after: Decimal
    period_start: datetime | None = None
    expires_at: datetime | None = None

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class RatingOutcome:
    charged_items: tuple[ChargedItem, ...]
    counter_changes: tuple[CounterChange, ...]
    notifications: tuple[Notification, ...]

    def total(self, currency: str) -> Decimal:
        return sum((item.amount for item in self.charged_items if item.currency == currency), Decimal(0))

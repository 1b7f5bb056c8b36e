"""What rating produces: a :class:`RatingOutcome` of charged items, counter changes and notifications.

The values it carries are domain values (:mod:`kopek.domain.outcome`), also read by posting,
refills and the stores; they are importable from here too, as rating's callers name them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind

__all__ = ["ChargedItem", "CounterChange", "CounterKey", "Notification", "NotificationKind", "RatingOutcome"]


@dataclass(frozen=True, slots=True, init=False)
class RatingOutcome:
    charged_items: tuple[ChargedItem, ...]
    counter_changes: tuple[CounterChange, ...]
    notifications: tuple[Notification, ...]

    def __init__(
        self, charged_items: tuple[ChargedItem, ...], counter_changes: tuple[CounterChange, ...], notifications: tuple[Notification, ...]
    ) -> None:
        # The dataclass's own __init__, with the slots' setters looked up once (one outcome for every rated item).
        _set_charged(self, charged_items)
        _set_changes(self, counter_changes)
        _set_notifications(self, notifications)

    def total(self, currency: str) -> Decimal:
        return sum((item.amount for item in self.charged_items if item.currency == currency), Decimal(0))


_set_charged, _set_changes, _set_notifications = (RatingOutcome.__dict__[each.name].__set__ for each in fields(RatingOutcome))

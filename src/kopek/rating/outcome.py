"""What rating produces: a :class:`RatingOutcome` of charged items, counter changes and notifications.

The values it carries are domain values (:mod:`kopek.domain.outcome`), also read by posting,
refills and the stores; they are importable from here too, as rating's callers name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind

__all__ = ["ChargedItem", "CounterChange", "CounterKey", "Notification", "NotificationKind", "RatingOutcome"]


@dataclass(frozen=True, slots=True)
class RatingOutcome:
    charged_items: tuple[ChargedItem, ...]
    counter_changes: tuple[CounterChange, ...]
    notifications: tuple[Notification, ...]

    def total(self, currency: str) -> Decimal:
        return sum((item.amount for item in self.charged_items if item.currency == currency), Decimal(0))

"""What rating produces: a :class:`RatingOutcome` of charged items, counter changes and notifications.

The values it carries are domain values (:mod:`kopek.domain.outcome`), also read by posting,
refills and the stores; they are importable from here too, as rating's callers name them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind

__all__ = ["ChargedItem", "CounterChange", "CounterKey", "Notification", "NotificationKind", "RatingOutcome"]


class RatingOutcome(NamedTuple):
    """One item rated: a charged item per charge applied, in contract order, the counters it changed (or moved to a
    new period), in key order, and its notifications. A named tuple, as :class:`ChargedItem` (one for every rated
    item)."""

    charged_items: tuple[ChargedItem, ...]
    counter_changes: tuple[CounterChange, ...]
    notifications: tuple[Notification, ...]

    def total(self, currency: str) -> Decimal:
        return sum((item.amount for item in self.charged_items if item.currency == currency), Decimal(0))

"""The outbox: stored notifications waiting for their publication, read and marked in id order.

Charging stores each notification in the same transaction as the charge that raised it,
so nothing is published that was not committed, and nothing committed is lost when the
message broker is away: it waits here, ``published_at`` unset, until a publisher gets
the broker's acknowledgement and marks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from kopek.clock import Clock
from kopek.notify.documents import ListedNotification, listed_notification
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class NotificationOutbox:
    """The unpublished notifications of one database; ``clock`` dates their publication."""

    database: sa.Engine
    clock: Clock

    def pending(self, limit: int) -> list[ListedNotification]:
        """The ``limit`` oldest unpublished notifications, in id order."""
        with UnitOfWork(self.database, writes=False) as uow:
            return [listed_notification(row) for row in uow.notifications.unpublished(limit=limit)]

    def mark_published(self, ids: Sequence[int]) -> None:
        """Record that the broker acknowledged ``ids``; one commit."""
        if not ids:
            return
        with UnitOfWork(self.database) as uow:
            uow.notifications.mark_published(ids, at=self.clock())
            uow.commit()

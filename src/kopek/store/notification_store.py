"""The stored notifications: listing them a page at a time, and the outbox of their publication.

Charging (and the fee and refill runs) insert the rows through
:class:`kopek.store.charging_store.ChargingStore`; this store reads them and marks
them published once the message broker acknowledged them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import contracts, notifications

# The subscriber account comes from the contract, so a notification without an operation
# (a fee, a refill) still names it.
_COLUMNS = (*notifications.c, contracts.c.subscriber_account_id)
_FROM = notifications.outerjoin(contracts, contracts.c.id == notifications.c.contract_id)


class NotificationStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def page(self, *, contract_id: str | None, kind: str | None, after_id: int, limit: int) -> list[dict[str, Any]]:
        """Notifications with an id above ``after_id``, oldest first, optionally of one contract and one kind."""
        query = sa.select(*_COLUMNS).select_from(_FROM).where(notifications.c.id > after_id)
        if contract_id is not None:
            query = query.where(notifications.c.contract_id == contract_id)
        if kind is not None:
            query = query.where(notifications.c.kind == kind)
        return self._rows(query.order_by(notifications.c.id).limit(limit))

    def unpublished(self, *, limit: int) -> list[dict[str, Any]]:
        """The oldest notifications not yet acknowledged by the message broker, in id order."""
        query = sa.select(*_COLUMNS).select_from(_FROM).where(notifications.c.published_at.is_(None))
        return self._rows(query.order_by(notifications.c.id).limit(limit))

    def mark_published(self, ids: Sequence[int], *, at: datetime) -> None:
        if ids:
            self._connection.execute(sa.update(notifications).where(notifications.c.id.in_(list(ids))).values(published_at=at))

    def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        return [dict(row) | {"data": json.loads(row["data"])} for row in self._connection.execute(query).mappings()]

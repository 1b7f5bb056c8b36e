"""The audit log: one record per administrative or money-creating operation, refused attempts included."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import audit_log

SUCCEEDED = "succeeded"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records to read; None matches any. ``since``/``until``: instants, both inclusive."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def record(self, *, at: datetime, actor: str, action: str, target: str, details: dict[str, Any], outcome: str = SUCCEEDED) -> None:
        values = {"at": at, "actor": actor, "action": action, "target": target, "outcome": outcome}
        self._connection.execute(sa.insert(audit_log).values(**values, details=json.dumps(details, sort_keys=True)))

    def newest(self, limit: int) -> list[dict[str, Any]]:
        return self._rows(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))

    def page(self, chosen: AuditFilter, *, after_id: int, limit: int) -> list[dict[str, Any]]:
        """The records matching ``chosen`` with an id above ``after_id``, oldest first."""
        query = sa.select(audit_log).where(audit_log.c.id > after_id)
        for column, value in (
            (audit_log.c.actor, chosen.actor),
            (audit_log.c.action, chosen.action),
            (audit_log.c.target, chosen.target),
            (audit_log.c.outcome, chosen.outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if chosen.since is not None:
            query = query.where(audit_log.c.at >= chosen.since)
        if chosen.until is not None:
            query = query.where(audit_log.c.at <= chosen.until)
        return self._rows(query.order_by(audit_log.c.id).limit(limit))

    def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        return [dict(row) | {"details": json.loads(row["details"])} for row in self._connection.execute(query).mappings()]

"""What the protocol adapters keep beside the charging sessions: their sessions (an Nchf charging data
resource, a Gy credit-control session), every answered request by sequence number, and the charging
session of each rating group with whether its last grant was final (docs/protocols.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import notifications, protocol_exchanges, protocol_rating_groups, protocol_sessions

REFILL_APPLIED = "refill_applied"
OPEN = "open"


class ProtocolStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def session(self, protocol: str, session: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = sa.select(protocol_sessions).where(protocol_sessions.c.protocol == protocol, protocol_sessions.c.id == session)
        if lock:
            query = query.with_for_update()
        row = self._connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def insert_session(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(protocol_sessions).values(**values))

    def update_session(self, protocol: str, session: str, values: dict[str, Any]) -> None:
        self._connection.execute(
            sa.update(protocol_sessions).where(protocol_sessions.c.protocol == protocol, protocol_sessions.c.id == session).values(**values)
        )

    def exchange(self, protocol: str, session: str, sequence: int) -> tuple[str, str] | None:
        """The request hash and answer of the request ``sequence`` of a session, if it was answered."""
        query = sa.select(protocol_exchanges.c.request_hash, protocol_exchanges.c.answer).where(
            protocol_exchanges.c.protocol == protocol,
            protocol_exchanges.c.session == session,
            protocol_exchanges.c.sequence == sequence,
        )
        row = self._connection.execute(query).first()
        return (row[0], row[1]) if row is not None else None

    def insert_exchange(self, values: dict[str, Any]) -> None:
        """Remember an answer (unique per session and sequence number: a concurrent retransmission fails here)."""
        self._connection.execute(sa.insert(protocol_exchanges).values(**values))

    def rating_groups(self, protocol: str, session: str) -> dict[int, dict[str, Any]]:
        query = sa.select(protocol_rating_groups).where(
            protocol_rating_groups.c.protocol == protocol, protocol_rating_groups.c.session == session
        )
        return {int(row["rating_group"]): dict(row) for row in self._connection.execute(query).mappings()}

    def write_rating_groups(self, protocol: str, session: str, rows: Iterable[dict[str, Any]]) -> None:
        """Replace the stored state of the rating groups ``rows`` name (others stay as they are)."""
        rows = list(rows)
        if not rows:
            return
        self._connection.execute(
            sa.delete(protocol_rating_groups).where(
                protocol_rating_groups.c.protocol == protocol,
                protocol_rating_groups.c.session == session,
                protocol_rating_groups.c.rating_group.in_([row["rating_group"] for row in rows]),
            )
        )
        self._connection.execute(sa.insert(protocol_rating_groups), [{"protocol": protocol, "session": session, **row} for row in rows])

    def newest_notification_id(self) -> int:
        return int(self._connection.execute(sa.select(sa.func.coalesce(sa.func.max(notifications.c.id), 0))).scalar_one())

    def reauthorizations_due(self, protocol: str, *, limit: int) -> list[dict[str, Any]]:
        """Rating groups of open sessions with a notify URI whose last grant was final and whose contract was refilled
        since (a ``refill_applied`` notification newer than the grant), not yet notified; oldest session first."""
        refilled = sa.exists().where(
            notifications.c.kind == REFILL_APPLIED,
            notifications.c.contract_id == protocol_rating_groups.c.contract_id,
            notifications.c.id > protocol_rating_groups.c.notification_mark,
        )
        query = (
            sa.select(protocol_rating_groups.c.session, protocol_rating_groups.c.rating_group, protocol_sessions.c.notify_uri)
            .join(
                protocol_sessions,
                sa.and_(
                    protocol_sessions.c.protocol == protocol_rating_groups.c.protocol,
                    protocol_sessions.c.id == protocol_rating_groups.c.session,
                ),
            )
            .where(
                protocol_rating_groups.c.protocol == protocol,
                protocol_rating_groups.c.final_grant.is_(True),
                protocol_rating_groups.c.notified_at.is_(None),
                protocol_sessions.c.status == OPEN,
                protocol_sessions.c.notify_uri.is_not(None),
                refilled,
            )
            .order_by(protocol_sessions.c.created_at, protocol_rating_groups.c.session, protocol_rating_groups.c.rating_group)
            .limit(limit)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def mark_notified(self, protocol: str, session: str, rating_groups: Iterable[int], *, at: datetime) -> None:
        self._connection.execute(
            sa.update(protocol_rating_groups)
            .where(
                protocol_rating_groups.c.protocol == protocol,
                protocol_rating_groups.c.session == session,
                protocol_rating_groups.c.rating_group.in_(list(rating_groups)),
            )
            .values(notified_at=at)
        )

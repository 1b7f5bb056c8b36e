"""Helpers for the session tests: commands as a network element would send them, reservation totals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek import Engine
from kopek.charging.session_views import Resolution, StartSession
from kopek.store.schema import charging_sessions, reservations
from kopek.store.uow import UnitOfWork
from tests.integration.support import CHARGING_TABLES, exact_sum
from tests.worlds import AT

TTL_MS = 60_000

#: What a session touches besides the charging tables: a refused session call leaves them as they were too.
SESSION_TABLES = (*CHARGING_TABLES, charging_sessions, reservations)


def start_call(
    session_id: str,
    *,
    user: str = "alice-msisdn",
    requested: str | None = "300",
    destination: str = "33123",
    resolution: Resolution = Resolution.CONFIRMED,
    reservation_id: str | None = None,
    ttl_ms: int = TTL_MS,
    at: datetime = AT,
) -> StartSession:
    return StartSession(
        session_id=session_id,
        item_class="voice_call",
        service_id="mobile",
        user_id=user,
        consumption_date=at,
        ttl_ms=ttl_ms,
        quantity_property="duration",
        properties={"destination": destination},
        requested_quantity=requested,
        default_resolution=resolution,
        reservation_id=reservation_id,
    )


def reserved_total(engine: Engine, account_id: str) -> Decimal:
    with UnitOfWork(engine.database, writes=False) as uow:
        amounts = uow.connection.execute(sa.select(reservations.c.amount).where(reservations.c.account_id == account_id)).scalars()
        return exact_sum(amounts)


def session_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with UnitOfWork(engine.database, writes=False) as uow:
        return {table.name: sorted((tuple(row) for row in uow.connection.execute(sa.select(table))), key=repr) for table in SESSION_TABLES}

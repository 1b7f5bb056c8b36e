"""What the metrics read from the database at each scrape: counts of what is held and waiting now."""

from __future__ import annotations

import decimal
from decimal import Decimal

import sqlalchemy as sa

from kopek.money import rating_context
from kopek.store.rating_job_store import RECHARGE
from kopek.store.schema import accounts, cdr_outcomes, cdrs, charging_sessions, notifications, rating_jobs, reservations
from kopek.store.session_store import SESSION

LIVE = "active"


class MetricsStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def reservations_by_currency(self) -> dict[str, tuple[int, Decimal]]:
        """Per currency, how many reservations live sessions hold and their amount (added in Python: exact on SQLite)."""
        query = sa.select(accounts.c.currency, reservations.c.amount).join(accounts, accounts.c.id == reservations.c.account_id)
        held: dict[str, tuple[int, Decimal]] = {}
        with decimal.localcontext(rating_context()):
            for currency, amount in self._connection.execute(query):
                count, total = held.get(currency, (0, Decimal(0)))
                held[currency] = (count + 1, total + amount)
        return held

    def outbox_depth(self) -> int:
        """Stored notifications not published yet (the partial index of the unpublished ones answers it)."""
        query = sa.select(sa.func.count()).select_from(notifications).where(notifications.c.published_at.is_(None))
        return int(self._connection.execute(query).scalar_one())

    def live_sessions(self) -> int:
        """Live charging sessions (live authorizations are not sessions; their reservations count with the sessions')."""
        live = sa.and_(charging_sessions.c.status == LIVE, charging_sessions.c.kind == SESSION)
        query = sa.select(sa.func.count()).select_from(charging_sessions).where(live)
        return int(self._connection.execute(query).scalar_one())

    def pending_cdrs(self) -> int:
        """Stored CDRs waiting for a rating job: those stored less those with an outcome (two counts of their primary
        keys; a CDR's outcome is a row of its own, see docs/batch.md)."""
        stored = sa.select(sa.func.count()).select_from(cdrs).scalar_subquery()
        rated = sa.select(sa.func.count()).select_from(cdr_outcomes).scalar_subquery()
        return int(self._connection.execute(sa.select(stored - rated)).scalar_one())

    def rating_jobs_by_state(self) -> dict[str, int]:
        query = sa.select(rating_jobs.c.state, sa.func.count()).where(rating_jobs.c.mode != RECHARGE).group_by(rating_jobs.c.state)
        return {str(state): int(count) for state, count in self._connection.execute(query)}

"""Rating jobs: one row per job, its mode, filters, state and timestamps (counts come from the CDRs)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kopek.store.schema import rating_jobs


class RatingJobStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(rating_jobs).values(**values))

    def job(self, job_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = sa.select(rating_jobs).where(rating_jobs.c.id == job_id)
        row = self._connection.execute(query.with_for_update() if lock else query).mappings().first()
        return dict(row) if row is not None else None

    def update(self, job_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(rating_jobs).where(rating_jobs.c.id == job_id).values(**values))

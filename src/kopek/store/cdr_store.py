"""Stored CDRs (call detail records) waiting for, or done with, batch rating."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import cdrs


class CdrStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` already stored."""
        if not ids:
            return set()
        return set(self._connection.execute(sa.select(cdrs.c.id).where(cdrs.c.id.in_(list(ids)))).scalars())

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._connection.execute(sa.insert(cdrs), list(rows))

    def cdr(self, cdr_id: str) -> dict[str, Any] | None:
        row = self._connection.execute(sa.select(cdrs).where(cdrs.c.id == cdr_id)).mappings().first()
        return dict(row) if row is not None else None

    def count_by_status(self) -> dict[str, int]:
        query = sa.select(cdrs.c.status, sa.func.count()).group_by(cdrs.c.status)
        return {str(status): int(count) for status, count in self._connection.execute(query)}

    def claim_for_job(self, job_id: str, conditions: Sequence[sa.ColumnElement[bool]]) -> int:
        """Give the pending CDRs that no job holds and that meet ``conditions`` to ``job_id``; how many."""
        query = sa.update(cdrs).where(cdrs.c.status == "pending", cdrs.c.job_id.is_(None), *conditions).values(job_id=job_id)
        return int(self._connection.execute(query).rowcount)

    def pending_of_job(self, job_id: str) -> list[dict[str, Any]]:
        query = sa.select(cdrs).where(cdrs.c.job_id == job_id, cdrs.c.status == "pending").order_by(cdrs.c.consumption_date, cdrs.c.id)
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def set_outcome(self, cdr_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(cdrs).where(cdrs.c.id == cdr_id).values(**values))

    def job_counts(self, job_id: str) -> dict[str, int]:
        query = sa.select(cdrs.c.status, sa.func.count()).where(cdrs.c.job_id == job_id).group_by(cdrs.c.status)
        return {str(status): int(count) for status, count in self._connection.execute(query)}

    def job_errors(self, job_id: str) -> list[tuple[str, str | None, str, int]]:
        """``(category, reason, code, count)`` of the failed CDRs of a job."""
        columns = (cdrs.c.error_category, cdrs.c.error_reason, cdrs.c.error_code)
        query = sa.select(*columns, sa.func.count()).where(cdrs.c.job_id == job_id, cdrs.c.status == "failed").group_by(*columns)
        return [(str(row[0]), row[1], str(row[2]), int(row[3])) for row in self._connection.execute(query)]

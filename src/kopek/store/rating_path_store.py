"""The paths a rating job's CDRs took: one row per committed chunk (path, reason, count), summed for the job's status."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from kopek.store.schema import rating_job_paths

_paths = rating_job_paths.c


@dataclass(frozen=True, slots=True)
class PathCount:
    """CDRs of a job handled on ``path``; on the row path, ``reason`` says why (none on the vectorized path) and
    ``detail`` gives one example of it in words."""

    path: str
    reason: str | None
    detail: str | None
    cdr_count: int


class RatingPathStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def record(self, job_id: str, path: str, cdr_count: int, *, reason: str | None = None, detail: str | None = None) -> None:
        """Count ``cdr_count`` CDRs of a chunk on ``path``; in the chunk's transaction, so it counts what commits."""
        if cdr_count:
            values = {"job_id": job_id, "path": path, "reason": reason, "detail": detail, "cdr_count": cdr_count}
            self._connection.execute(sa.insert(rating_job_paths).values(**values))

    def counts(self, job_id: str) -> list[PathCount]:
        """The job's CDRs by path and reason, the vectorized path first, then the largest counts."""
        total = sa.func.sum(_paths.cdr_count)
        query = (
            sa.select(_paths.path, _paths.reason, sa.func.min(_paths.detail), total)
            .where(_paths.job_id == job_id)
            .group_by(_paths.path, _paths.reason)
        )
        found = [PathCount(str(path), reason, detail, int(count)) for path, reason, detail, count in self._connection.execute(query)]
        return sorted(found, key=lambda each: (each.path != "vectorized", -each.cdr_count, each.reason or ""))

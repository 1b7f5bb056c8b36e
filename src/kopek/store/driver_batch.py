"""Several prebuilt statements sent to the database driver together: one round trip on PostgreSQL.

The hot paths (an offline charge, its replay check) send statements whose text is built
once (named constants of the store that owns the tables) straight to the driver, inside
the unit of work's own transaction: on PostgreSQL as one psycopg pipeline, which the
server answers after a single wait of the client; on SQLite one after the other on the
same cursor (``sqlite3`` keeps each statement text prepared). No statement of a batch
reads what another returned in Python, so they can all be on their way at once.

Statement texts name their parameters ``:name``, as SQLite does; :func:`for_dialect`
turns them into psycopg's ``%(name)s`` once. A driver failure is raised as SQLAlchemy's
(``IntegrityError``, ``OperationalError``, ...), and a lost connection is invalidated,
as if SQLAlchemy had run the statement, so callers handle both paths alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kopek.store.bulk import driver_error

_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_KEPT_CURSORS = "_kopek_kept_cursors"
"""The attribute of a psycopg connection that keeps the cursors of its batches (:func:`_run_pipeline`)."""


@dataclass(frozen=True, slots=True)
class DialectText:
    """One statement's text for each database: SQLite's ``:name`` parameters, psycopg's ``%(name)s``."""

    sqlite: str
    postgresql: str

    def of(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" else self.sqlite


def for_dialect(text: str, *, postgresql: str | None = None) -> DialectText:
    """``text`` (parameters ``:name``) for both databases; ``postgresql`` replaces it there (row locks, advisory locks)."""
    return DialectText(text, _NAMED.sub(r"%(\1)s", postgresql if postgresql is not None else text))


@dataclass(slots=True)
class Pending:
    """The rows a statement of a batch returns, once the batch has run."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1
    """The rows the statement changed (``-1`` until the batch has run)."""


@dataclass(slots=True)
class _Queued:
    text: str
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    many: bool
    pending: Pending | None
    returns_rows: bool


class DriverBatch:
    """Statements queued with :meth:`add` / :meth:`add_many`, sent by :meth:`run` on ``connection``'s own transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self.dialect = connection.dialect.name
        self._queued: list[_Queued] = []

    def add(self, text: DialectText, parameters: Mapping[str, Any], *, returns_rows: bool = False) -> Pending:
        """Queue one statement; its rows (when ``returns_rows``) are in the result once :meth:`run` returned."""
        pending = Pending()
        self._queued.append(_Queued(text.of(self.dialect), parameters, many=False, pending=pending, returns_rows=returns_rows))
        return pending

    def add_many(self, text: DialectText, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue one statement run once per row; nothing when there is no row."""
        if rows:
            self._queued.append(_Queued(text.of(self.dialect), rows, many=True, pending=None, returns_rows=False))

    def __len__(self) -> int:
        return len(self._queued)

    def run(self) -> None:
        """Send every queued statement and wait once for all their answers."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        driver = self._connection.connection.driver_connection
        assert driver is not None, "an open connection has a driver connection"
        try:
            if self.dialect == "postgresql":
                _run_pipeline(driver, queued)
            else:
                _run_one_by_one(driver, queued)
        except self._connection.dialect.loaded_dbapi.Error as error:
            raise self._wrapped(error, queued) from error

    def _wrapped(self, error: Exception, queued: list[_Queued]) -> sa.exc.DBAPIError:
        return driver_error(self._connection, "; ".join(entry.text.split("\n")[0] for entry in queued), error)


def _run_pipeline(driver: Any, queued: list[_Queued]) -> None:
    # Leaving the pipeline sends one Sync and waits for every answer: results are read after it. A statement whose
    # result is read gets a cursor of its own; the others (each row of add_many) share one. The cursors are kept on
    # the connection for its next batches: making one copies the connection's adapters, which a charge would pay for
    # each statement it reads. A failed batch closes them, so the next one starts from new cursors.
    kept: list[Any] = getattr(driver, _KEPT_CURSORS, None) or []
    setattr(driver, _KEPT_CURSORS, None)
    cursors = iter(kept)
    shared = next(cursors, None) or driver.cursor()
    used = [shared]
    read = []
    try:
        with driver.pipeline():
            for entry in queued:
                cursor = shared
                if entry.pending is not None:
                    cursor = next(cursors, None) or driver.cursor()
                    used.append(cursor)
                if entry.many:
                    cursor.executemany(entry.text, entry.parameters)
                else:
                    cursor.execute(entry.text, entry.parameters)
                if entry.pending is not None:
                    read.append((entry.pending, entry.returns_rows, cursor))
        for pending, returns_rows, cursor in read:
            pending.rowcount = cursor.rowcount
            if returns_rows:
                pending.rows = cursor.fetchall()
    except BaseException:
        for cursor in (*used, *cursors):
            cursor.close()
        raise
    setattr(driver, _KEPT_CURSORS, [*used, *cursors])


def _run_one_by_one(driver: Any, queued: list[_Queued]) -> None:
    cursor = driver.cursor()
    try:
        for entry in queued:
            if entry.many:
                cursor.executemany(entry.text, entry.parameters)
                continue
            cursor.execute(entry.text, entry.parameters)
            if entry.pending is not None:
                entry.pending.rowcount = cursor.rowcount
                if entry.returns_rows:
                    entry.pending.rows = cursor.fetchall()
    finally:
        cursor.close()

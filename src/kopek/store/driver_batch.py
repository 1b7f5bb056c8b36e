"""Several prebuilt statements sent to the database driver together: one round trip on PostgreSQL.

The hot paths (an offline charge, its replay check) send statements whose text is built
once (named constants of the store that owns the tables) straight to the driver, inside
the unit of work's own transaction: on PostgreSQL as one libpq pipeline, written in one
go and answered by the server after a single wait of the client, each statement prepared
once per connection (see :func:`_run_pipeline`); on SQLite one after the other on the
same cursor (``sqlite3`` keeps each statement text prepared). No statement of a batch
reads what another returned in Python, so they can all be on their way at once.

Statement texts name their parameters ``:name``, as SQLite does; :func:`for_dialect`
turns them into psycopg's ``%(name)s`` once. A driver failure is raised as SQLAlchemy's
(``IntegrityError``, ``OperationalError``, ...), and a lost connection is invalidated,
as if SQLAlchemy had run the statement, so callers handle both paths alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from psycopg import errors, generators, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import TransactionStatus

from kopek.store.bulk import driver_error

_NAMED = re.compile(r"(?<![:\w]):(\w+)")
_STATEMENTS = "_kopek_statements"
"""The attribute of a psycopg connection that keeps its batches' prepared statements and adapters (:class:`_Statements`)."""


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


def _run_pipeline(driver: psycopg.Connection[Any], queued: list[_Queued]) -> None:
    # libpq's own pipeline, driven here rather than through psycopg's cursors: a charge sends a dozen statements, and
    # a cursor's execution (query conversion, its preparation bookkeeping, the pipeline's result queue) cost more of its
    # CPU than the charge's own work. The values are dumped and the rows loaded by psycopg's adapters as a cursor would.
    statements = _statements_of(driver)
    pgconn, transformer = driver.pgconn, statements.transformer
    batch = _Batch()
    commands, steps = batch.commands, batch.steps
    if not driver.autocommit and pgconn.transaction_status == TransactionStatus.IDLE:
        # What psycopg sends before a transaction's first statement (with the connection's isolation level and access
        # mode), prepared as the others are.
        begin = driver._get_tx_start_command()  # psycopg's own text (a private method; psycopg is pinned)
        name = statements.name_of(pgconn, begin, (), batch)
        commands.append(partial(pgconn.send_query_params, begin, None) if name is None else partial(pgconn.send_query_prepared, name, None))
        steps.append(_Step())
    for entry in queued:
        text, names, formats_asked = positional(entry.text)
        rows = cast("Sequence[Mapping[str, Any]]", entry.parameters) if entry.many else (cast("Mapping[str, Any]", entry.parameters),)
        for row in rows:
            values = transformer.dump_sequence([row[name] for name in names], formats_asked)
            types, formats = transformer.types or (), transformer.formats
            name = statements.name_of(pgconn, text, types, batch)
            if name is None:
                commands.append(partial(pgconn.send_query_params, text, values, param_types=types, param_formats=formats))
            else:
                commands.append(partial(pgconn.send_query_prepared, name, values, param_formats=formats))
            steps.append(_Step(pending=None if entry.many else entry.pending, returns_rows=entry.returns_rows))
    commands.append(pgconn.pipeline_sync)
    with driver.lock:
        pgconn.enter_pipeline_mode()
        try:
            # libpq keeps the commands in its buffer, sending only what fills it: the flush after the Sync sends the
            # rest in one write. What a large batch cannot send at once is sent as the server's answers are read.
            for command in commands:
                command()
            if pgconn.flush():
                driver.wait(generators.send(pgconn))
            results: list[list[pq.abc.PGresult]] = []
            while len(results) <= len(steps):  # every step's results, then the Sync's
                results.append(driver.wait(generators.fetch_many(pgconn)))
            pgconn.exit_pipeline_mode()
        except BaseException:
            with suppress(Exception):
                pgconn.exit_pipeline_mode()
            raise
    _read(driver, statements, steps, results)


def _read(driver: psycopg.Connection[Any], statements: _Statements, steps: list[_Step], results: list[list[pq.abc.PGresult]]) -> None:
    """The rows and counts of the steps; the first failed step is raised, as psycopg would raise it."""
    transformer = statements.transformer
    for step, answer in zip(steps, results, strict=False):
        result = answer[-1]
        if result.status == pq.ExecStatus.FATAL_ERROR:
            failure = errors.error_from_result(result, encoding=driver.info.encoding)
            if isinstance(failure, errors.InvalidSqlStatementName):
                statements.forget()  # the session lost its statements behind this connection's back: prepare anew
            raise failure
        if step.prepares is not None:
            statements.prepared(*step.prepares)
        pending = step.pending
        if pending is not None:
            tuples = result.command_tuples
            pending.rowcount = tuples if tuples is not None else -1
            if step.returns_rows:
                transformer.set_pgresult(result)
                pending.rows = transformer.load_rows(0, result.ntuples, tuple)


@dataclass(slots=True)
class _Batch:
    """The commands of one pipeline, what each is for, and the statements it prepares."""

    commands: list[Callable[[], None]] = field(default_factory=list)
    steps: list[_Step] = field(default_factory=list)
    preparing: dict[tuple[bytes, tuple[int, ...]], bytes] = field(default_factory=dict)


@dataclass(slots=True)
class _Step:
    """What one command of a pipeline is for: a statement's rows, or a statement to prepare under a name."""

    pending: Pending | None = None
    returns_rows: bool = False
    prepares: tuple[tuple[bytes, tuple[int, ...]], bytes] | None = None


_PSYCOPG_PARAMETER = re.compile(r"%\((\w+)\)s|%%")
_POSITIONAL: dict[str, tuple[bytes, tuple[str, ...], list[PyFormat]]] = {}
"""Each statement text with ``%(name)s`` parameters, as libpq takes it (:func:`positional`)."""


def _statements_of(driver: psycopg.Connection[Any]) -> _Statements:
    statements: _Statements | None = getattr(driver, _STATEMENTS, None)
    if statements is None:
        statements = _Statements(driver)
        setattr(driver, _STATEMENTS, statements)
    return statements


def positional(text: str) -> tuple[bytes, tuple[str, ...], list[PyFormat]]:
    """``text`` with ``%(name)s`` parameters as libpq takes it (``$1``, ... ; a name used twice keeps its number), the
    names in that order, and the format psycopg chooses for each value (made once per text)."""
    found = _POSITIONAL.get(text)
    if found is None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        converted = _PSYCOPG_PARAMETER.sub(number, text).encode()
        found = _POSITIONAL[text] = (converted, tuple(names), [PyFormat.AUTO] * len(names))
    return found


PREPARED_MAX = 200
"""Statements a connection keeps prepared for batches; past them, a statement is sent to be parsed each time."""


class _Statements:
    """The statements prepared on one connection for batches, by text and parameter types, and the connection's
    adapters. psycopg deallocates every prepared statement of its session when it forgets its own (after a ROLLBACK,
    a DROP or an ALTER, if it had prepared any): these are forgotten with them."""

    __slots__ = ("_names", "_serial", "transformer")

    def __init__(self, driver: psycopg.Connection[Any]) -> None:
        self.transformer = Transformer(driver)
        self._names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self._serial = 0
        manager = driver._prepared  # psycopg's own cache; tests/integration/test_driver_batch.py checks the hook
        clear = manager.clear

        def cleared() -> bool:
            deallocates = clear()
            if deallocates:
                self.forget()
            return deallocates

        manager.clear = cleared  # type: ignore[method-assign]

    def name_of(self, pgconn: pq.abc.PGconn, text: bytes, types: tuple[int, ...], batch: _Batch) -> bytes | None:
        """The name ``text`` is prepared under for ``types``. One not yet prepared is prepared in ``batch`` first (a
        command and its step), and kept once the server has answered it. None: too many are prepared."""
        key = (text, types)
        name = self._names.get(key) or batch.preparing.get(key)
        if name is not None:
            return name
        if len(self._names) + len(batch.preparing) >= PREPARED_MAX:
            return None
        self._serial += 1
        name = batch.preparing[key] = b"kopek_%d" % self._serial
        batch.commands.append(partial(pgconn.send_prepare, name, text, param_types=types))
        batch.steps.append(_Step(prepares=(key, name)))
        return name

    def prepared(self, key: tuple[bytes, tuple[int, ...]], name: bytes) -> None:
        self._names[key] = name

    def forget(self) -> None:
        self._names.clear()


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

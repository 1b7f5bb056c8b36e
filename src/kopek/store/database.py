"""Opening a database by URL and bringing its schema to the current revision.

SQLite (a file in the working folder) is the default; PostgreSQL is chosen by a
``postgresql://`` URL. SQLite runs in WAL mode and every writing transaction
starts with ``BEGIN IMMEDIATE``, so two writers queue instead of failing late.
"""

from __future__ import annotations

import os
import select
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kopek.errors import Code, InvalidError, TemporaryIllegalStateError
from kopek.store.kept_connections import KeptConnections

DEFAULT_DATABASE_URL: Final = "sqlite:///kopek.db"
DATABASE_URL_VARIABLE: Final = "KOPEK_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
POSTGRES_LOCK_TIMEOUT_MS: Final = 10_000
# SQLSTATEs of PostgreSQL faults that a retry can cure: lock timeout, deadlock, serialization.
_TRANSIENT_SQLSTATES: Final = frozenset({"55P03", "40P01", "40001"})
Result = TypeVar("Result")
MIGRATIONS_LOCATION: Final = str(Path(__file__).with_name("migrations"))
DATABASE_RETRY_AFTER_SECONDS: Final = 5
"""How long to wait before trying again a database server that did not answer."""
_URL_FORMS: Final = "sqlite:///FILE or postgresql://USER@HOST:PORT/DATABASE"
_REFUSED_BY_THE_SERVER: Final = ("FATAL:", "could not translate host name", "failed to resolve host")
"""What PostgreSQL's driver says when the URL is at fault: the server answered and refused (no such database, user or
password), or the host name is unknown; anything else (refused, timed out) is a server that does not answer now."""


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the explicit one, else ``KOPEK_DATABASE_URL``, else the SQLite default."""
    url = explicit or os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def shown_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def open_database(url: str, *, create_schema: bool) -> sa.Engine:
    """An engine on ``url``, migrated when ``create_schema`` (else nothing is opened yet: a server may start before its
    database answers, and say so on /healthz). A URL kopek cannot use answers ``INVALID`` / ``database_url_invalid``
    saying why, a server that does not answer ``TEMPORARY_ILLEGAL_STATE`` / ``database_unreachable``, never an
    unexpected fault."""
    try:
        engine = create_database_engine(url)
    except (sa.exc.ArgumentError, ImportError) as error:
        raise _url_refused(url, error) from None
    if not create_schema:
        return engine
    try:
        migrate(engine)
    except sa.exc.OperationalError as error:
        engine.dispose()
        raise _open_refused(url, error) from None
    return engine


def _url_refused(url: str, error: Exception) -> InvalidError:
    shown = shown_url(url)
    try:
        scheme = sa.make_url(url).drivername
    except sa.exc.ArgumentError:
        return InvalidError(code=Code.DATABASE_URL_INVALID, message=f"the database URL {shown!r} cannot be read; write {_URL_FORMS}")
    del error  # its text names SQLAlchemy's plugins and modules, which tell a user nothing
    return InvalidError(
        code=Code.DATABASE_URL_INVALID,
        message=f"the database URL {shown!r} names {scheme!r}: kopek stores its data in SQLite or PostgreSQL; write {_URL_FORMS}",
    )


def _open_refused(url: str, error: sa.exc.OperationalError) -> InvalidError | TemporaryIllegalStateError:
    """Why the database of ``url`` could not be opened: a fault of the URL (a file that cannot be opened, a server that
    answered and refused: unknown database, user or password) or a server that did not answer (try again later)."""
    said = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    said = said.removeprefix("connection failed: ")
    shown = shown_url(url)
    if url.startswith("sqlite") or any(mark in said for mark in _REFUSED_BY_THE_SERVER):
        return InvalidError(code=Code.DATABASE_URL_INVALID, message=f"cannot open the database {shown}: {said}")
    return TemporaryIllegalStateError(
        code=Code.DATABASE_UNREACHABLE,
        message=f"the database server of {shown} does not answer: {said}",
        retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS,
    )


def create_database_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with kopek's connection settings."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: its round trip on every checkout is replaced by a look at the socket (_on_checkout), and an
    # operation whose connection breaks before its commit is run once more (retried_once_if_disconnected).
    engine = sa.create_engine(url, pool_size=10, max_overflow=20)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {POSTGRES_LOCK_TIMEOUT_MS}")
        cursor.close()
        dbapi_connection.commit()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not _idle_connection_alive(dbapi_connection):
            # The pool replaces the connection and tries again.
            raise sa.exc.DisconnectionError("the server closed this idle connection")

    return engine


def _idle_connection_alive(dbapi_connection: Any) -> bool:
    """Whether a pooled PostgreSQL connection still looks usable, without a round trip: an idle connection receives
    nothing, so a readable socket means the server has closed it (a terminated backend, a restart, an idle timeout)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return False
    readable, _, _ = select.select([dbapi_connection.pgconn.socket], [], [], 0)
    return not readable


def kept_connections(engine: sa.Engine) -> KeptConnections | None:
    """A holder of the hot path's connections between its units of work, for an engine of :func:`create_database_engine`
    (None where its pool hands out one connection again and again)."""
    return KeptConnections.of(engine, _idle_connection_alive if engine.dialect.name == "postgresql" else _sqlite_connection_open)


def _sqlite_connection_open(_dbapi_connection: Any) -> bool:
    # A SQLite connection is a file opened in this process: nothing can close it behind the holder's back.
    return True


def retried_once_if_disconnected(work: Callable[[], Result]) -> Result:
    """Run ``work`` (an operation with its own units of work) and, when its database connection broke before it sent
    its commit, run it once more on a fresh one: nothing of the first run can have been stored. (A connection lost
    during the commit raises :class:`kopek.store.uow.CommitOutcomeUnknownError`, which is not retried.)"""
    try:
        return work()
    except sa.exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return work()


def is_transient(error: sa.exc.DBAPIError) -> bool:
    """True when ``error`` is a lock timeout, deadlock or serialization fault worth retrying."""
    if "database is locked" in str(error.orig):
        return True
    return getattr(error.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


SQLITE_CACHE_KIB = 65_536
"""The page cache of each SQLite connection, in KiB (64 MiB)."""


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Charging inserts rows keyed by random ids into large indexes: a page cache of
        # SQLITE_CACHE_KIB (default 2 MB) keeps their inner pages in memory.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        writes = connection.get_execution_options().get("kopek_writes", True)
        statement = "BEGIN IMMEDIATE" if writes else "BEGIN"
        # Sent by the driver itself: SQLAlchemy's execution of a statement cost more than SQLite's BEGIN (about 16 us of
        # a unit of work's 40). A failure (the write lock still busy after SQLITE_BUSY_TIMEOUT_MS) is raised as
        # SQLAlchemy would raise it.
        try:
            connection.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe to run on every start."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

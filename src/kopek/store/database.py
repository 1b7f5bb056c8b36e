"""Opening a database by URL and bringing its schema to the current revision.

SQLite (a file in the working folder) is the default; PostgreSQL is chosen by a
``postgresql://`` URL. SQLite runs in WAL mode and every writing transaction
starts with ``BEGIN IMMEDIATE``, so two writers queue instead of failing late.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

DEFAULT_DATABASE_URL: Final = "sqlite:///kopek.db"
DATABASE_URL_VARIABLE: Final = "KOPEK_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
POSTGRES_LOCK_TIMEOUT_MS: Final = 10_000
# SQLSTATEs of PostgreSQL faults that a retry can cure: lock timeout, deadlock, serialization.
_TRANSIENT_SQLSTATES: Final = frozenset({"55P03", "40P01", "40001"})
MIGRATIONS_LOCATION: Final = str(Path(__file__).with_name("migrations"))


def database_url(explicit: str | None = None) -> str:
    """The URL to use: the explicit one, else ``KOPEK_DATABASE_URL``, else the SQLite default."""
    url = explicit or os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_database_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with kopek's connection settings."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {POSTGRES_LOCK_TIMEOUT_MS}")
        cursor.close()
        dbapi_connection.commit()

    return engine


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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe to run on every start."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

"""Shared fixtures: every storage test runs on a SQLite file and on PostgreSQL.

PostgreSQL tests use the server at ``KOPEK_TEST_POSTGRES_URL`` (default: the local
server, database ``test``). Each test gets a schema of its own run: a migrated schema
from the worker's pool, emptied after the test and handed to the next one (deleting
a few rows costs milliseconds where creating the tables costs about a second), or a
fresh empty schema (``fresh_postgres_url``) for the tests of the migrations themselves.
Every schema a run creates is dropped when the run (or its xdist worker) ends. SQLite
tests get a copy of a migrated file, or a fresh path (``fresh_sqlite_url``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from kopek import Engine
from kopek.store.database import create_database_engine, database_url, migrate
from tests.fakes import FixedClock, SequentialIds

POSTGRES_URL = os.environ.get("KOPEK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Property tests: a failure prints the blob that replays it (@reproduce_failure), wherever it ran. Under CI the examples
# are derived from each test's name (the same on every run), so that a run's verdict does not depend on its luck; a
# developer's runs keep exploring new examples, and keep the failures they find in the local example database.
settings.register_profile("local", print_blob=True)
settings.register_profile("ci", print_blob=True, derandomize=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")
CLEANUP_LOCK_TIMEOUT = "5s"
"""How long emptying a pooled schema waits for a lock before the schema is dropped instead."""


def postgres_schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return database_url(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")


@dataclass
class SchemaPool:
    """Migrated PostgreSQL schemas of this run, reused test after test once emptied."""

    admin: sa.Engine
    idle: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    shape: tuple[int, ...] | None = None
    """What a freshly migrated schema holds (see ``_shape``): a schema that no longer has them is dropped, not reused."""
    reusable: bool = True
    """False when migrating leaves rows (seed data) that emptying would delete: then every test gets a new schema."""

    def new_schema(self) -> str:
        schema = f"kopek_test_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        return schema

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        schema = self.new_schema()
        migrated = create_database_engine(postgres_schema_url(schema))
        try:
            migrate(migrated)
        finally:
            migrated.dispose()
        with self.admin.connect() as connection:
            shape = self._shape(connection, schema)
            self.shape = self.shape or shape
            tables = self._tables(connection, schema)
            seeded = connection.exec_driver_sql(" UNION ALL ".join(f'SELECT 1 FROM "{schema}"."{table}"' for table in tables)).first()
            self.reusable = self.reusable and seeded is None
        return schema

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test, or drop it when it cannot be reused as it was."""
        try:
            with self.admin.begin() as connection:
                if not self.reusable or self._shape(connection, schema) != self.shape:
                    raise LookupError(schema)
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{CLEANUP_LOCK_TIMEOUT}'")
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no foreign-key order needed
                tables = self._tables(connection, schema)
                sequences = connection.exec_driver_sql("SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (schema,)).scalars()
                statements = [f'DELETE FROM "{schema}"."{table}"' for table in tables]
                statements += [f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART' for sequence in sequences]
                connection.exec_driver_sql("; ".join(statements))
        except (LookupError, sa.exc.DBAPIError):
            self.drop(schema)
            return
        self.idle.append(schema)

    def drop(self, schema: str) -> None:
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.created.remove(schema)

    @staticmethod
    def _tables(connection: sa.Connection, schema: str) -> list[str]:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'alembic_version' ORDER BY tablename"
        return list(connection.exec_driver_sql(query, (schema,)).scalars())

    @staticmethod
    def _shape(connection: sa.Connection, schema: str) -> tuple[int, ...]:
        """Counts of what a test could add to or take from a schema: columns, indexes, triggers, functions, views."""
        query = """
            SELECT (SELECT count(*) FROM information_schema.columns WHERE table_schema = %(schema)s),
                   (SELECT count(*) FROM pg_indexes WHERE schemaname = %(schema)s),
                   (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND NOT t.tgisinternal),
                   (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s),
                   (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'v', 'm', 'S'))
        """
        row = connection.exec_driver_sql(query, {"schema": schema}).one()
        return tuple(row)


@pytest.fixture(scope="session")
def schema_pool() -> Iterator[SchemaPool]:
    pool = SchemaPool(sa.create_engine(database_url(POSTGRES_URL)))
    try:
        yield pool
    finally:
        for schema in list(pool.created):
            pool.drop(schema)
        pool.admin.dispose()


@pytest.fixture
def postgres_url(schema_pool: SchemaPool) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a migrated, empty schema of this run's pool."""
    schema = schema_pool.take()
    try:
        yield postgres_schema_url(schema)
    finally:
        schema_pool.give_back(schema)


@pytest.fixture
def fresh_postgres_url(schema_pool: SchemaPool) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a new schema without any table, dropped after the test."""
    schema = schema_pool.new_schema()
    try:
        yield postgres_schema_url(schema)
    finally:
        schema_pool.drop(schema)


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest revision, copied for each test that wants one."""
    path = tmp_path_factory.mktemp("template") / "kopek.db"
    migrated = create_database_engine(f"sqlite:///{path}")
    try:
        migrate(migrated)
    finally:
        migrated.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name("kopek.db-wal").exists(), "the template is whole in its one file"
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_file: Path) -> str:
    """A SQLite file of this test's own, already migrated."""
    path = tmp_path / "kopek.db"
    shutil.copyfile(migrated_sqlite_file, path)
    return f"sqlite:///{path}"


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path) -> str:
    """A path of this test's own where no SQLite file exists yet."""
    return f"sqlite:///{tmp_path / 'kopek.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs twice: on a migrated SQLite file and on a migrated PostgreSQL schema, both empty."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_any_url(request: pytest.FixtureRequest) -> str:
    """Like ``any_url``, but a database without any table (for the tests of the migrations)."""
    fixture = "fresh_sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def engine(any_url: str, clock: FixedClock) -> Iterator[Engine]:
    with Engine(any_url, clock=clock, new_id=SequentialIds()) as opened:
        yield opened

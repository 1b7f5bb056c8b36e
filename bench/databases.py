"""Fresh databases for one benchmark row: a SQLite file in a temporary folder, or a PostgreSQL schema."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from kopek.store.database import database_url

DEFAULT_POSTGRES_URL = os.environ.get("KOPEK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="kopek-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A URL whose search path is a new schema on ``server_url``, dropped afterwards."""
    schema = f"kopek_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url(server_url))
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in server_url else "?"
            yield database_url(f"{server_url}{separator}options=-csearch_path%3D{schema}")
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def postgres_unreachable(server_url: str) -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it answers."""
    admin = sa.create_engine(database_url(server_url))
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:
        return f"PostgreSQL not reachable ({type(error).__name__})"
    finally:
        admin.dispose()
    return None

"""A bench-only loader of pending CDRs: the usage mix of :mod:`bench.world` written straight into ``cdrs``.

``Engine.import_cdrs`` checks every row with pydantic and writes it through the unit of
work (about 20,000 rows/s); a benchmark of rating needs millions of pending CDRs
without waiting for that. This loader writes the very rows the import would store
(same columns, properties as sorted JSON text, instants in UTC, no outcome: pending)
in batches of ``CDR_LOADER_ROWS_PER_BATCH``, one commit each: with ``COPY`` on
PostgreSQL, with one ``executemany`` on SQLite. It streams: at most one batch is in
memory, so ten million rows take no more memory than twenty thousand.
tests/integration/test_bench_cdr_loader.py checks it against the import.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from bench.world import usage
from kopek import ChargeableItem
from kopek.store.database import create_database_engine
from kopek.store.types import UtcDateTime

CDR_LOADER_ROWS_PER_BATCH: Final = 20_000
USAGE_SEED: Final = 7
"""The seed of the usage mix the batch rows rate (the same CDRs on every database)."""

CDR_COLUMNS: Final = ("id", "item_class", "consumption_date", "service_id", "user_id", "properties", "imported_at")


def numbered_usage(count: int, subscribers: int, *, seed: int = USAGE_SEED) -> Iterator[tuple[str, ChargeableItem]]:
    """The first ``count`` items of the usage mix over ``subscribers`` subscribers, with their CDR ids ``cdr-1``, ``cdr-2``, ..."""
    items = itertools.islice(usage(list(range(subscribers)), seed=seed), count)
    return ((f"cdr-{number}", item) for number, item in enumerate(items, start=1))


def import_record(cdr_id: str, item: ChargeableItem) -> dict[str, Any]:
    """One CDR as ``Engine.import_cdrs`` takes it (a record of a CDR file)."""
    return {
        "id": cdr_id,
        "item_class": item.item_class,
        "consumption_date": item.consumption_date.isoformat(),
        "service_id": item.service_id,
        "user_id": item.user_id,
        "properties": item.properties,
    }


def stored_row(cdr_id: str, item: ChargeableItem, imported_at: datetime) -> tuple[Any, ...]:
    """The ``cdrs`` row (values of ``CDR_COLUMNS``) that importing the CDR at ``imported_at`` stores (see kopek.batch.cdr_import)."""
    properties = json.dumps(item.properties, sort_keys=True, default=str)
    consumed = item.consumption_date.astimezone(UTC)
    return (cdr_id, item.item_class, consumed, item.service_id, item.user_id, properties, imported_at)


def load_pending_cdrs(url: str, count: int, subscribers: int, *, imported_at: datetime | None = None, seed: int = USAGE_SEED) -> int:
    """Store the first ``count`` CDRs of the usage mix as pending in the database at ``url``; returns how many.

    The database must already hold kopek's schema (open an ``Engine`` on it first).
    ``imported_at`` defaults to now. On PostgreSQL the table is analyzed afterwards, as
    autovacuum would soon do after an import of that size.
    """
    at = (imported_at or datetime.now(UTC)).astimezone(UTC)
    rows = (stored_row(cdr_id, item, at) for cdr_id, item in numbered_usage(count, subscribers, seed=seed))
    database = create_database_engine(url)
    try:
        if database.dialect.name == "postgresql":
            loaded = _copy_batches(database, rows)
            with database.begin() as connection:
                connection.exec_driver_sql("ANALYZE cdrs")
            return loaded
        return _insert_batches(database, rows)
    finally:
        database.dispose()


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, CDR_LOADER_ROWS_PER_BATCH)):
        yield batch


def _insert_batches(database: sa.Engine, rows: Iterable[tuple[Any, ...]]) -> int:
    """SQLite: one ``executemany`` per batch, one commit each; instants as the column type binds them (UTC text), and
    each row numbered on from the largest stored ``seq``, as the import numbers them (PostgreSQL numbers them itself)."""
    instant = UtcDateTime().process_bind_param
    columns = (*CDR_COLUMNS, "seq")
    statement = f"INSERT INTO cdrs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    loaded = 0
    for batch in _batches(rows):
        with database.begin() as connection:
            first = int(connection.exec_driver_sql("SELECT coalesce(max(seq), 0) + 1 FROM cdrs").scalar_one())
            bound = [
                (*row[:2], instant(row[2], database.dialect), *row[3:6], instant(row[6], database.dialect), first + number)
                for number, row in enumerate(batch)
            ]
            connection.exec_driver_sql(statement, bound)
        loaded += len(bound)
    return loaded


def _copy_batches(database: sa.Engine, rows: Iterable[tuple[Any, ...]]) -> int:
    """PostgreSQL: one ``COPY cdrs FROM STDIN`` through the raw psycopg connection per batch, one commit each."""
    statement = f"COPY cdrs ({', '.join(CDR_COLUMNS)}) FROM STDIN"
    loaded = 0
    raw = database.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        for batch in _batches(rows):
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in batch:
                    copy.write_row(row)
            driver.commit()
            loaded += len(batch)
    finally:
        raw.close()
    return loaded

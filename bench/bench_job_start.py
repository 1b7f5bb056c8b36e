"""What starting a rating job costs: its time and what it writes to the write-ahead log.

``python -m bench.bench_job_start --cdrs N [--database sqlite|postgresql] [--subscribers S]``
loads N pending CDRs (bench/cdr_loader.py, untimed) into a fresh database, then times
``Engine.start_rating_job`` over all of them and prints, on SQLite, the size of the
``-wal`` file after the start (the loader's own writes checkpointed first), on
PostgreSQL the WAL bytes between ``pg_current_wal_lsn()`` before and after the start.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bench.bench_engine import prepared_engine
from bench.cdr_loader import load_pending_cdrs
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from kopek import Engine
from kopek.batch.rating_jobs import RatingMode
from kopek.store.database import create_database_engine

MEBIBYTE = 1 << 20


def measure(url: str, cdrs: int, subscribers: int) -> dict[str, float]:
    """Load ``cdrs`` pending CDRs, start one job over them; its seconds, WAL megabytes and CDR count."""
    prepared_engine(url, subscribers).close()
    load_pending_cdrs(url, cdrs, subscribers)
    database = create_database_engine(url)
    try:
        before = _wal_mark(database)
        with Engine(url) as engine:
            began = time.perf_counter()
            job_id = engine.start_rating_job(RatingMode.DAY_MOST)
            seconds = time.perf_counter() - began
            # Read while the engine's connection is open: SQLite removes the WAL file when its last connection closes.
            wal_bytes = _wal_mark(database) - before if database.dialect.name == "postgresql" else _wal_file_bytes(url)
            total = engine.rating_job(job_id).total
    finally:
        database.dispose()
    return {"seconds": seconds, "wal_mib": wal_bytes / MEBIBYTE, "cdrs": float(total)}


def _wal_mark(database: sa.Engine) -> int:
    """PostgreSQL: the WAL position in bytes; SQLite: checkpoint and truncate the WAL (the loader's writes), 0."""
    if database.dialect.name == "postgresql":
        with database.connect() as connection:
            return int(connection.exec_driver_sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").scalar_one())
    assert database.url.database is not None
    with contextlib.closing(sqlite3.connect(database.url.database, isolation_level=None)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return 0


def _wal_file_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///") + "-wal")
    return path.stat().st_size if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=400)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    options = parser.parse_args()
    opened = sqlite_database() if options.database == "sqlite" else postgres_database(DEFAULT_POSTGRES_URL)
    with opened as url:
        result = measure(url, options.cdrs, options.subscribers)
    print(
        f"{options.database}: start over {result['cdrs']:.0f} CDRs: {result['seconds']:.2f} s, WAL {result['wal_mib']:.1f} MiB",
        file=sys.stdout,
        flush=True,
    )


if __name__ == "__main__":
    main()

"""What a CDR's outcome costs the database: updated on its row of ``cdrs``, or appended as a narrow row of its own.

``python -m bench.outcome_writes [--database postgresql|sqlite] [--cdrs N] [--chunk C] [--rounds R]``
loads N pending CDRs of the bench world (bench/cdr_loader.py, untimed) into a fresh
schema (PostgreSQL) or file (SQLite), then, in alternating rounds over fresh CDRs, writes
the outcome of C CDRs per transaction either way and prints seconds and log bytes (WAL)
per CDR. PostgreSQL takes the CDRs in import order. SQLite takes them by access, as a job
takes them contract by contract, so the CDRs of one transaction lie all over the table;
its seconds include each transaction's checkpoint (``wal_checkpoint(PASSIVE)``, which SQLite
would otherwise run at some later commit):

- ``update``: as a vectorized chunk does today (``kopek.store.bulk.update_frame``): on
  PostgreSQL the outcome columns copied into a temporary table, then one ``UPDATE cdrs
  ... FROM`` it; on SQLite one ``UPDATE`` per CDR by its id in an ``executemany``.
  Every updated row is a new version of the whole CDR, with a new entry in each of its
  indexes (its status, its job and partition are indexed).
- ``append``: a ``COPY`` (SQLite: an ``executemany`` ``INSERT``) of one row per CDR into a narrow table keyed by the CDR id
  (job, chunk, status, operation): the design the batch issue asks for, measured
  before it is built (docs/batch.md, *Writing less per CDR*).
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from bench.batch_input import _prepare
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from bench.server_process import libpq_url
from kopek.store.database import SQLITE_CACHE_KIB

_OUTCOMES = """CREATE TABLE bench_cdr_outcomes (
    cdr_id varchar(128) PRIMARY KEY, job_id varchar(64) NOT NULL, chunk_id varchar(80), status varchar(16) NOT NULL,
    operation_id varchar(64), error_category varchar(32), error_reason varchar(32), error_code varchar(64), error_message text
)"""
_SCRATCH = """CREATE TEMPORARY TABLE bench_outcome_update (
    id text, status text, operation_id text, job_id text, contract_id text, partition_key text, chunk_id text
) ON COMMIT DROP"""
_UPDATE = """UPDATE cdrs SET status = s.status, operation_id = s.operation_id, job_id = s.job_id,
    contract_id = s.contract_id, partition_key = s.partition_key, chunk_id = s.chunk_id
    FROM bench_outcome_update s WHERE cdrs.id = s.id"""
JOB = "job-bench"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outcome_writes", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cdrs", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each way; each writes the outcomes of CDRS / (2 ROUNDS) CDRs")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    options = parser.parse_args()
    if options.database == "sqlite":
        _sqlite(options.cdrs, options.chunk, options.rounds)
        return
    with postgres_database(options.postgres_url) as url:
        _prepare(url, options.cdrs, 400)
        with psycopg.connect(libpq_url(url)) as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM cdrs ORDER BY seq")]
            connection.execute(_OUTCOMES)
            connection.commit()
            per_round = len(ids) // (2 * options.rounds)
            batches = iter(ids[start : start + per_round] for start in range(0, per_round * 2 * options.rounds, per_round))
            for _ in range(options.rounds):
                for way in ("update", "append"):
                    seconds, wal = _round(connection, way, next(batches), options.chunk)
                    micros, wal_bytes = seconds * 1e6 / per_round, wal / per_round
                    print(f"{way:6}: {per_round:,} outcomes, {micros:.1f} us and {wal_bytes:,.0f} WAL bytes per CDR")


def _round(connection: psycopg.Connection[Any], way: str, ids: Sequence[str], chunk: int) -> tuple[float, float]:
    """Write the outcomes of ``ids`` ``way``, ``chunk`` per transaction; seconds and WAL bytes."""
    start_lsn = _lsn(connection)
    seconds = 0.0
    for part in _chunks(ids, chunk):
        began = time.perf_counter()
        with connection.cursor() as cursor:
            if way == "update":
                cursor.execute(_SCRATCH)
                with cursor.copy("COPY bench_outcome_update FROM STDIN") as copy:
                    for cdr_id in part:
                        copy.write_row((cdr_id, "charged", f"op-{cdr_id}", JOB, "contract", "contract/contract", f"{JOB}/1"))
                cursor.execute(_UPDATE)
            else:
                with cursor.copy("COPY bench_cdr_outcomes (cdr_id, job_id, chunk_id, status, operation_id) FROM STDIN") as copy:
                    for cdr_id in part:
                        copy.write_row((cdr_id, JOB, f"{JOB}/1", "charged", f"op-{cdr_id}"))
        connection.commit()
        seconds += time.perf_counter() - began
    wal = connection.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (start_lsn,)).fetchone()
    assert wal is not None
    return seconds, float(wal[0])


_SQLITE_UPDATE = """UPDATE cdrs SET status = ?, operation_id = ?, job_id = ?, contract_id = ?, partition_key = ?, chunk_id = ?
    WHERE id = ?"""


_SQLITE_APPEND = "INSERT INTO bench_cdr_outcomes (cdr_id, job_id, chunk_id, status, operation_id) VALUES (?, ?, ?, ?, ?)"


def _sqlite(cdrs: int, chunk: int, rounds: int) -> None:
    with sqlite_database() as url:
        _prepare(url, cdrs, 400)
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            # As kopek opens it (kopek.store.database), but checkpointed by the round itself.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            connection.execute(_OUTCOMES)
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            ids = [row[0] for row in connection.execute("SELECT id FROM cdrs ORDER BY service_id, user_id, consumption_date, id")]
            page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
            pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
            print(f"sqlite: {len(ids):,} CDRs stored in {pages:,} pages of {page_size:,} bytes")
            per_round = len(ids) // (2 * rounds)
            batches = iter(ids[start : start + per_round] for start in range(0, per_round * 2 * rounds, per_round))
            for _ in range(rounds):
                for way in ("update", "append"):
                    seconds, frames = _sqlite_round(connection, way, next(batches), chunk)
                    micros, wal_bytes = seconds * 1e6 / per_round, frames * page_size / per_round
                    print(f"{way:6}: {per_round:,} outcomes, {micros:.1f} us and {wal_bytes:,.0f} WAL bytes per CDR")
        finally:
            connection.close()


def _sqlite_round(connection: sqlite3.Connection, way: str, ids: Sequence[str], chunk: int) -> tuple[float, int]:
    """Write the outcomes of ``ids`` ``way``, ``chunk`` per transaction, each checkpointed; seconds and log pages."""
    seconds, frames = 0.0, 0
    for part in _chunks(ids, chunk):
        began = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        if way == "update":
            updates = [("charged", f"op-{cdr_id}", JOB, "contract", "contract/contract", f"{JOB}/1", cdr_id) for cdr_id in part]
            connection.executemany(_SQLITE_UPDATE, updates)
        else:
            appended = [(cdr_id, JOB, f"{JOB}/1", "charged", f"op-{cdr_id}") for cdr_id in part]
            connection.executemany(_SQLITE_APPEND, appended)
        connection.execute("COMMIT")
        _, logged, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        seconds += time.perf_counter() - began
        frames += int(logged)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return seconds, frames


def _lsn(connection: psycopg.Connection[Any]) -> str:
    row = connection.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def _chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


if __name__ == "__main__":
    main()

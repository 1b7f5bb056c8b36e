"""Bulk restore of contract states on PostgreSQL, beside a plain ``COPY`` of the same rows.

Set-up (not timed): a fresh schema with ``states`` migrating contracts (inserted
directly, in chunks), and a JSON lines file of their states, each with one shared
counter, one contract item counter and a snapshot date. Timed:

- restore: ``Engine.restore_contract_states`` in ``ALL_OR_NOTHING`` mode, reading the
  file line by line, in a child process so that its peak RSS is its own;
- COPY into the same tables: the same file parsed with ``json.loads``, its counter rows
  (two per state) copied with ``cursor.copy`` into ``counters`` itself (emptied first, not
  timed), with its primary key and its foreign key to ``contracts``, and its snapshot rows
  copied into a staging table and set on ``contracts`` by one joined ``UPDATE`` (a
  ``COPY`` cannot set columns of existing rows); committed;
- COPY into bare tables: the same rows copied into new tables shaped like ``counters``
  and the snapshot columns, with a primary key but no foreign key and no update.

The ratio restore/COPY (states per second) says what validation, locking and the
replace semantics cost; the target is at least 0.3 against the COPY into the same
tables. The ratio against the bare tables also counts what the tables' constraints
and the update of existing contracts cost, which any writer of these rows pays.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa

from bench.measure import Measure, Row
from kopek import Engine
from kopek.migration.restore import RestoreMode
from kopek.store.schema import contract_items, contracts, subscriber_accounts

RATIO_TARGET = 0.3
CHUNK_ROWS = 10_000
CATALOG = {
    "item_classes": [{"name": "sms", "properties": [{"name": "destination", "type": "string"}]}],
    "charge_plans": [
        {
            "name": "family",
            "currency": "EUR",
            "counters": [
                {"name": "shared_seconds", "scope": "contract", "unit": "seconds", "initial": 300},
                {"name": "sms_sent", "scope": "contract_item", "unit": "events"},
            ],
            "charges": [{"name": "sms", "item_class": "sms", "account_role": "payer", "price": {"type": "flat", "amount": "0.10"}}],
        }
    ],
}
SNAPSHOT = datetime(2026, 1, 1, tzinfo=UTC)


def _contract_id(index: int) -> str:
    return f"c{index:08d}"


def prepare(url: str, states: int) -> None:
    """Catalog, one subscriber account and ``states`` migrating contracts with one contract item each."""
    with Engine(url) as engine:
        engine.load_catalog(CATALOG)
        with engine.database.begin() as connection:
            connection.execute(
                sa.insert(subscriber_accounts).values(id="holder", currency="EUR", status="active", name="", created_at=SNAPSHOT)
            )
            for start in range(0, states, CHUNK_ROWS):
                indexes = range(start, min(states, start + CHUNK_ROWS))
                connection.execute(
                    sa.insert(contracts),
                    [
                        {"id": _contract_id(i), "subscriber_account_id": "holder", "valid_from": SNAPSHOT, "status": "migrating"}
                        for i in indexes
                    ],
                )
                connection.execute(
                    sa.insert(contract_items),
                    [{"contract_id": _contract_id(i), "item_id": "main", "position": 0, "charge_plan": "family"} for i in indexes],
                )
        with engine.database.connect() as connection:
            # A live system has planner statistics; without them PostgreSQL would scan whole tables per batch.
            connection.exec_driver_sql("ANALYZE")


def write_states(path: Path, states: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for index in range(states):
            state = {
                "format_version": 2,
                "contract_id": _contract_id(index),
                "last_snapshot_date": SNAPSHOT.isoformat(),
                "snapshot_days": index % 31,
                "shared_counters": [{"namespace": "contract", "name": "shared_seconds", "unit": "seconds", "value": str(index % 300)}],
                "items": [{"item_id": "main", "counters": [{"name": "sms_sent", "unit": "events", "value": str(index % 97)}]}],
            }
            file.write(json.dumps(state) + "\n")


def _restore_in_child(url: str, path: str, answer: multiprocessing.Queue[tuple[float, int, int]]) -> None:
    with Engine(url, create_schema=False) as engine, open(path, encoding="utf-8") as lines:
        started = time.perf_counter()
        report = engine.restore_contract_states(lines, RestoreMode.ALL_OR_NOTHING, actor="bench")
        seconds = time.perf_counter() - started
    answer.put((seconds, report.states_restored, report.states_failed))


def timed_restore(url: str, path: Path) -> tuple[float, int, int, int]:
    """Seconds, states restored, states failed and the peak RSS (KiB) of a child process restoring ``path``."""
    context = multiprocessing.get_context("spawn")
    answer: multiprocessing.Queue[tuple[float, int, int]] = context.Queue()
    child = context.Process(target=_restore_in_child, args=(url, str(path), answer))
    child.start()
    seconds, restored, failed = answer.get()
    child.join()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, restored, failed, peak_kib


def _copy_rows(path: Path) -> Iterator[tuple[list[tuple[str, str, str, str, str]], tuple[str, str, int]]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            state = json.loads(line)
            contract_id = state["contract_id"]
            counters = [(contract_id, "", c["name"], c["unit"], c["value"]) for c in state["shared_counters"]]
            counters += [
                (contract_id, item["item_id"], c["name"], c["unit"], c["value"]) for item in state["items"] for c in item["counters"]
            ]
            yield counters, (contract_id, state["last_snapshot_date"], state["snapshot_days"])


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def timed_copy_same_tables(url: str, path: Path) -> float:
    """Seconds to COPY the file's counter rows into ``counters`` and set its snapshots on ``contracts``."""
    with psycopg.connect(_conninfo(url)) as connection:
        connection.execute("TRUNCATE counters")
        connection.execute(
            "CREATE TEMPORARY TABLE copy_snapshots (id varchar(128) PRIMARY KEY, last_snapshot_date timestamptz, snapshot_days integer)"
        )
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy("COPY counters (contract_id, item_id, name, unit, value) FROM STDIN") as counters:
                for rows, _ in _copy_rows(path):
                    for row in rows:
                        counters.write_row(row)
            with cursor.copy("COPY copy_snapshots FROM STDIN") as snapshots:
                for _, snapshot in _copy_rows(path):
                    snapshots.write_row(snapshot)
            cursor.execute(
                "UPDATE contracts SET last_snapshot_date = copy_snapshots.last_snapshot_date,"
                " snapshot_days = copy_snapshots.snapshot_days FROM copy_snapshots WHERE contracts.id = copy_snapshots.id"
            )
        connection.commit()
        return time.perf_counter() - started


def timed_copy(url: str, path: Path) -> float:
    """Seconds to COPY the file's rows into bare tables shaped like the ones restore writes."""
    with psycopg.connect(_conninfo(url)) as connection:
        connection.execute(
            "CREATE TABLE copy_counters (contract_id varchar(128), item_id varchar(128), name varchar(128),"
            " unit varchar(16), value numeric, PRIMARY KEY (contract_id, item_id, name))"
        )
        connection.execute(
            "CREATE TABLE copy_snapshots (id varchar(128) PRIMARY KEY, last_snapshot_date timestamptz, snapshot_days integer)"
        )
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy("COPY copy_counters FROM STDIN") as counters:
                for rows, _ in _copy_rows(path):
                    for row in rows:
                        counters.write_row(row)
            with cursor.copy("COPY copy_snapshots FROM STDIN") as snapshots:
                for _, snapshot in _copy_rows(path):
                    snapshots.write_row(snapshot)
        connection.commit()
        return time.perf_counter() - started


def _timed(open_database: Callable[[], AbstractContextManager[str]], states: int) -> tuple[float, int, int, int, float, float]:
    """Restore ``states`` states, then COPY the same rows twice: restore seconds, restored, failed, peak KiB, COPY seconds
    (same tables, bare tables)."""
    with open_database() as url, tempfile.TemporaryDirectory(prefix="kopek-bench-") as folder:
        path = Path(folder) / "states.jsonl"
        prepare(url, states)
        write_states(path, states)
        print(f"  migration: {states} states prepared ({path.stat().st_size / 2**20:.0f} MiB file)", file=sys.stderr, flush=True)
        seconds, restored, failed, peak_kib = timed_restore(url, path)
        same_seconds = timed_copy_same_tables(url, path)
        bare_seconds = timed_copy(url, path)
    return seconds, restored, failed, peak_kib, same_seconds, bare_seconds


def run(open_database: Callable[[], AbstractContextManager[str]], *, states: int) -> Row:
    seconds, restored, failed, peak_kib, same_seconds, bare_seconds = _timed(open_database, states)
    restore_rate, same_rate, bare_rate = states / seconds, states / same_seconds, states / bare_seconds
    ratio = restore_rate / same_rate
    verdict = "meets" if ratio >= RATIO_TARGET else "below"
    note = (
        f"COPY same tables {same_rate:,.0f} states/s, restore/COPY {ratio:.2f} ({verdict} target {RATIO_TARGET}); "
        f"COPY bare tables {bare_rate:,.0f} states/s, restore/COPY {restore_rate / bare_rate:.2f}; "
        f"peak RSS {peak_kib / 1024:.0f} MiB; {failed} failed"
    )
    return Row("migration: restore ALL_OR_NOTHING", "postgresql", 1, restored, seconds, note=note)


def measure(open_database: Callable[[], AbstractContextManager[str]], *, states: int) -> Measure:
    """The restore against a ``COPY`` of the same rows into the same tables, in states per second."""
    seconds, _, _, _, same_seconds, _ = _timed(open_database, states)
    return Measure("restore_pg", "states/s", states / seconds, states / same_seconds, RATIO_TARGET)

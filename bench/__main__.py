"""``python -m bench``: how fast kopek rates and charges, printed as a table with ratios.

Measures (kopek against a baseline measured in the same run, with a target; docs/performance.md):
``offline_http_pg`` and ``offline_cpu_per_charge_pg`` (``kopek serve`` against the raw debit
transaction, bench/bench_offline.py), ``offline_inprocess_sqlite``, ``session_p99_pg_ms``,
``rating_core`` (bench/bench_rating_core.py), ``batch_pg`` and ``batch_sqlite`` (a rating job
against Polars, bench/bench_batch.py), ``restore_pg`` (bench/bench_migration.py). ``--quick``
takes only the measures, on small sizes (a minute or two); ``--only measures`` on full sizes;
``--json FILE`` writes them as ``{"measures": [{"name", "unit", "kopek", "baseline", "ratio",
"target", "ok"}]}``. A missed target is ``ok: false``; the benchmark still exits 0.

Rows: the start-up of ``kopek --help``; the pure core (``rate_item``, no I/O); durable offline charges through
``Engine.charge`` in-process on SQLite and PostgreSQL (one thread, and four threads
over many accounts); and the same over HTTP (FastAPI under uvicorn, httpx client).
Each database row runs on a fresh SQLite file or a fresh PostgreSQL schema, dropped
afterwards. The migration row restores ``--states`` contract states beside a plain
``COPY`` of the same rows. The session rows time start, update and stop of online
charging sessions. The protocol rows time Diameter CCR-U round trips and Nchf updates
over h2c, each server in its own process. The batch rows load ``--cdrs`` pending CDRs untimed, then time a
rating job and an item-file export, each in a child process (see bench/bench_batch.py).
Benchmarks print figures; they never fail a test run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import kopek
from bench import (
    bench_batch,
    bench_cli,
    bench_core,
    bench_engine,
    bench_http,
    bench_migration,
    bench_offline,
    bench_protocols,
    bench_rating_core,
    bench_recharge,
    bench_sessions,
)
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database, postgres_unreachable, sqlite_database
from bench.measure import Measure, Row, measures_table, ratios, skipped, table

FEW_SUBSCRIBERS = 8
MANY_SUBSCRIBERS = 400
CORE_ITEMS_FACTOR = 10
QUICK_RATING_ITEMS = 20_000
QUICK_RATING_ROUNDS = 5
QUICK_STATES = 10_000
QUICK_CDRS = 100_000
"""Stored CDRs of the quick batch measures: enough for several chunks, so that the job's throughput, not its start, is
what is measured (and two workers on PostgreSQL have chunks to share)."""
SESSION_SECONDS = 30
"""Seconds of the session measure, quick or not: 40 % at the peak, the rest paced. A p99 of a few seconds of calls is
made by one stall of this shared machine: runs of 8 s gave 28 to 187 ms for the same code (docs/performance.md)."""


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=2000, help="charges per database row (the core row rates ten times as many)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server; each row gets its own schema")
    parser.add_argument(
        "--only",
        choices=("measures", "cli", "rating_core", "core", "engine", "http", "migration", "sessions", "protocols", "batch", "recharge"),
        help="run one group of rows",
    )
    parser.add_argument("--quick", action="store_true", help="take only the measures, each on a small size (within minutes)")
    parser.add_argument("--json", type=argparse.FileType("w"), metavar="FILE", help="write the measures to FILE as JSON")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of each side of a measure (its median is kept)")
    parser.add_argument("--states", type=int, default=100_000, help="contract states the migration row restores (e.g. 1000000)")
    parser.add_argument("--cdrs", type=int, default=10_000, help="stored CDRs the batch rows rate and charge with one job")
    parser.add_argument("--threads", type=int, default=4, help="threads of the multi-threaded rows")
    parser.add_argument("--subscribers", type=int, default=MANY_SUBSCRIBERS, help="subscribers whose CDRs the batch rows rate")
    parser.add_argument(
        "--rating-path",
        choices=("auto", "row"),
        help="the batch rows' rating path, passed to `kopek rate --path` (default: kopek's own, without the option)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of the batch rows' job (`kopek rate --worker JOB`, all at once)"
    )
    parser.add_argument(
        "--server-workers", type=int, default=1, help="worker processes of the `kopek serve` that offline_http_pg and sessions use"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), help="run the database rows on this database only (default: both)")
    return parser.parse_args(argv)


def plan(options: argparse.Namespace) -> list[tuple[str, Callable[[], Row | list[Row]]]]:
    items, threads = options.items, options.threads
    sqlite, postgres = sqlite_database, partial(postgres_database, options.postgres_url)
    no_postgres = postgres_unreachable(options.postgres_url)
    steps: list[tuple[str, Callable[[], Row | list[Row]]]] = [
        ("cli", partial(bench_cli.run, CLI_RUNS)),
        ("core", partial(bench_core.run, items * CORE_ITEMS_FACTOR)),
    ]

    def engine_row(database: str, count: int, subscribers: int) -> Callable[[], Row]:
        if database == "postgresql" and no_postgres:
            return partial(skipped, "engine: Engine.charge", database, no_postgres, count)
        opener = sqlite if database == "sqlite" else postgres
        return partial(bench_engine.run, "engine: Engine.charge", database, opener, threads=count, items=items, subscribers=subscribers)

    def http_row(database: str, count: int, subscribers: int) -> Callable[[], Row]:
        if database == "postgresql" and no_postgres:
            return partial(skipped, "http: POST /v1/charging", database, no_postgres, count)
        opener = sqlite if database == "sqlite" else postgres
        return partial(bench_http.run, database, opener, threads=count, items=items, subscribers=subscribers)

    steps += [
        ("engine", engine_row("sqlite", 1, FEW_SUBSCRIBERS)),
        ("engine", engine_row("sqlite", threads, MANY_SUBSCRIBERS)),
        ("engine", engine_row("postgresql", 1, FEW_SUBSCRIBERS)),
        ("engine", engine_row("postgresql", threads, MANY_SUBSCRIBERS)),
        ("http", http_row("sqlite", 1, FEW_SUBSCRIBERS)),
        ("http", http_row("postgresql", 1, FEW_SUBSCRIBERS)),
        ("http", http_row("postgresql", threads, MANY_SUBSCRIBERS)),
        (
            "migration",
            partial(skipped, "migration: restore ALL_OR_NOTHING", "postgresql", no_postgres)
            if no_postgres
            else partial(bench_migration.run, postgres, states=options.states),
        ),
    ]
    for database in ("sqlite", "postgresql"):
        if database == "postgresql" and no_postgres:
            steps.append(("sessions", partial(skipped, "sessions: start/update/stop", database, no_postgres)))
            continue
        opener = sqlite if database == "sqlite" else postgres
        steps.append(
            (
                "sessions",
                partial(bench_sessions.run, database, opener, sessions=max(1, items // SESSION_CALLS), subscribers=FEW_SUBSCRIBERS),
            )
        )
    for database in ("sqlite", "postgresql"):
        if database == "postgresql" and no_postgres:
            steps.append(("protocols", partial(skipped, "protocols: Diameter CCR-U / Nchf update", database, no_postgres)))
            continue
        opener = sqlite if database == "sqlite" else postgres
        requests = max(1, items // PROTOCOL_REQUESTS_DIVISOR)
        steps.append(("protocols", partial(bench_protocols.run_diameter, database, opener, requests=requests, threads=threads)))
        steps.append(("protocols", partial(bench_protocols.run_nchf, database, opener, requests=requests)))
    for database in ("sqlite", "postgresql"):
        if database == "postgresql" and no_postgres:
            steps.append(("batch", partial(skipped, "batch: rating job", database, no_postgres)))
            continue
        opener = sqlite if database == "sqlite" else postgres
        batch = partial(
            bench_batch.run,
            database,
            opener,
            cdrs=options.cdrs,
            subscribers=options.subscribers,
            rating_path=options.rating_path,
            workers=options.workers,
        )
        steps.append(("batch", batch))
    for database in ("sqlite", "postgresql"):
        if database == "postgresql" and no_postgres:
            steps.append(("recharge", partial(skipped, "recharge: Engine.recharge", database, no_postgres)))
            continue
        opener = sqlite if database == "sqlite" else postgres
        steps.append(("recharge", partial(bench_recharge.run, database, opener, items=items)))
    chosen = [(group, step) for group, step in steps if options.only in (None, group)]
    return [(group, step) for group, step in chosen if options.database is None or _database_of(step) in (None, options.database)]


def _database_of(step: Callable[[], Row | list[Row]]) -> str | None:
    """The database a planned row runs on (its first argument), or None for the core row."""
    arguments = step.args if isinstance(step, partial) else ()
    return next((argument for argument in arguments if argument in ("sqlite", "postgresql")), None)


CLI_RUNS = 20
"""Times the cli row starts ``kopek --help``."""

PROTOCOL_REQUESTS_DIVISOR = 2
"""The protocol rows send ``--items / 2`` updates each."""

SESSION_CALLS = 3
"""Calls per session (start, update, stop): the session rows run ``--items / 3`` sessions."""


@dataclass(frozen=True, slots=True)
class MeasureSizes:
    """How much work each measure does: ``--quick`` takes small ones, a full run those of the options."""

    charges_per_round: int
    """Charges per round of each side of the offline measures (over all clients)."""
    rounds: int
    """Alternate rounds of each side of a measure; each side's median is kept."""
    session_seconds: float
    """Seconds of session calls: the peak, then the paced run at 70 % of it."""
    rating_items: int
    rating_rounds: int
    cdrs: int
    """Stored CDRs the batch measures rate with one job."""
    states: int
    """Contract states ``restore_pg`` restores."""
    subscribers: int = MANY_SUBSCRIBERS
    """Subscribers the charges, sessions and CDRs are spread over."""


QUICK_SIZES = MeasureSizes(
    charges_per_round=1_000,
    rounds=5,
    session_seconds=SESSION_SECONDS,
    rating_items=QUICK_RATING_ITEMS,
    rating_rounds=QUICK_RATING_ROUNDS,
    cdrs=QUICK_CDRS,
    states=QUICK_STATES,
)
MEASURES = (
    "offline_http_pg",
    "offline_cpu_per_charge_pg",
    "offline_inprocess_sqlite",
    "session_p99_pg_ms",
    "rating_core",
    "batch_pg",
    "batch_sqlite",
    "restore_pg",
)
"""The names ``--json`` writes, one entry each (those on PostgreSQL only when it answers)."""


def sizes_of(options: argparse.Namespace) -> MeasureSizes:
    if options.quick:
        return QUICK_SIZES
    return MeasureSizes(
        charges_per_round=options.items,
        rounds=options.rounds,
        session_seconds=SESSION_SECONDS,
        rating_items=options.items * CORE_ITEMS_FACTOR,
        rating_rounds=options.rounds,
        cdrs=options.cdrs,
        states=options.states,
        subscribers=options.subscribers,
    )


def measure_plan(options: argparse.Namespace, sizes: MeasureSizes) -> list[tuple[str, Callable[[], list[Measure]]]]:
    """The measures to take, each with what it is called while it runs: all of them with ``--quick``, ``--only measures``
    or without ``--only``; only ``rating_core`` with ``--only rating_core``; none for another group."""
    if options.only not in (None, "rating_core", "measures") and not options.quick:
        return []

    def rating_core() -> list[Measure]:
        by_tariff = bench_rating_core.run(sizes.rating_items, rounds=sizes.rating_rounds)
        for measure in by_tariff:
            print(f"  {measure.name}: {measure.kopek:,.0f} vs {measure.baseline or 0:,.0f} items/s, ratio {measure.ratio:.3f}", flush=True)
        return [bench_rating_core.worse(by_tariff)]

    steps: list[tuple[str, Callable[[], list[Measure]]]] = [("rating_core", rating_core)]
    if options.only == "rating_core" and not options.quick:
        return steps
    postgres = partial(postgres_database, options.postgres_url)
    threads, subscribers = options.threads, sizes.subscribers
    if options.database in (None, "sqlite"):
        inprocess = partial(
            bench_offline.measure_sqlite, sqlite_database, subscribers=subscribers, per_round=sizes.charges_per_round, rounds=sizes.rounds
        )
        steps.append(("offline_inprocess_sqlite", lambda: [inprocess()]))
        batch_sqlite = partial(
            bench_batch.measure, "sqlite", sqlite_database, cdrs=sizes.cdrs, subscribers=subscribers, rounds=sizes.rounds
        )
        steps.append(("batch_sqlite", lambda: [batch_sqlite()]))
    no_postgres = postgres_unreachable(options.postgres_url) if options.database in (None, "postgresql") else "not asked for"
    if no_postgres is not None:
        print(f"  the PostgreSQL measures are skipped: {no_postgres}", file=sys.stderr, flush=True)
        return steps
    online = partial(
        bench_offline.measure_postgres, postgres, threads=threads, subscribers=subscribers, per_round=sizes.charges_per_round,
        rounds=sizes.rounds, session_seconds=sizes.session_seconds, workers=options.server_workers,
    )  # fmt: skip
    batch_pg = partial(bench_batch.measure, "postgresql", postgres, cdrs=sizes.cdrs, subscribers=subscribers, rounds=sizes.rounds)
    restore = partial(bench_migration.measure, postgres, states=sizes.states)
    steps += [
        ("offline_http_pg, offline_cpu_per_charge_pg, session_p99_pg_ms", online),
        ("batch_pg", lambda: [batch_pg()]),
        ("restore_pg", lambda: [restore()]),
    ]
    return steps


def take_measures(options: argparse.Namespace, sizes: MeasureSizes | None = None) -> list[Measure]:
    """Take the planned measures (a failed one is reported and left out), print them, write them to ``--json``."""
    measures: list[Measure] = []
    for names, step in measure_plan(options, sizes or sizes_of(options)):
        started = time.perf_counter()
        try:
            taken = step()
        except Exception as error:  # a broken measure is reported, the others still run
            print(f"  {names} failed: {type(error).__name__}: {error}"[:300], file=sys.stderr, flush=True)
            continue
        measures.extend(taken)
        print(f"  {names} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    measures.sort(key=lambda measure: MEASURES.index(measure.name))
    if measures:
        print()
        print(measures_table(measures))
    if options.json is not None:
        json.dump({"measures": [m.as_json() for m in measures]}, options.json, indent=2)
        options.json.write("\n")
        options.json.close()
    return measures


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    print(f"kopek {kopek.__version__} on Python {platform.python_version()} ({platform.machine()}), --items {options.items}", flush=True)
    take_measures(options)
    if options.quick or options.only in ("rating_core", "measures"):
        return 0
    rows: list[Row] = []
    for group, step in plan(options):
        started = time.perf_counter()
        try:
            produced = step()
        except Exception as error:  # a broken row is reported, the others still run
            produced = Row(f"{group}: failed", note=f"{type(error).__name__}: {error}"[:160])
        done = produced if isinstance(produced, list) else [produced]
        rows.extend(done)
        print(
            f"  {done[0].name} [{done[0].database}, {done[0].threads} thread(s)] done in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    print()
    print(table(rows))
    lines = ratios(rows)
    if lines:
        print()
        print("ratios (throughput):")
        for line in lines:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What one durable offline charge costs this process: ``Engine.charge`` in one thread, its CPU and wall time per charge.

``python -m bench.engine_cpu --charges 3000 --database sqlite|postgresql`` sets up (untimed) the
benchmark world's catalog and ``--subscribers`` subscribers on a fresh SQLite file or PostgreSQL
schema, warms up with 300 charges, then times ``--charges`` charges of the usage mix, each with a
fresh idempotency key, and prints the wall and CPU milliseconds per charge (``time.process_time``:
this process only) and, on PostgreSQL, the CPU of the server's backends that the engine's connections
use (from ``/proc``, found by the ``application_name`` the benchmark gives them; PostgreSQL runs on
this machine). A refusal of the usage mix (a barred number) counts as a charge answered. Run the code
before and after a change alternately: one run moves by a few per cent on its own.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from bench.bench_engine import charge_answered, prepared_engine, workloads
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from bench.server_process import backends, cpu_snapshot, cpu_used, libpq_url, with_application_name

WARM_UP_CHARGES = 300


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_cpu", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--charges", type=int, default=3_000)
    parser.add_argument("--subscribers", type=int, default=400)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    options = parser.parse_args()
    with (
        _database(options.database, options.postgres_url) as url,
        _server_cpu(url) as (named, server_cpu),
        prepared_engine(named, options.subscribers) as engine,
    ):
        items = workloads(1, options.subscribers, options.charges + WARM_UP_CHARGES, seed=1)[0]
        for number, item in enumerate(items[:WARM_UP_CHARGES]):
            charge_answered(engine, item, f"warm-{number}")
        measured = items[WARM_UP_CHARGES:]
        server = server_cpu()
        began, cpu = time.perf_counter(), time.process_time()
        for number, item in enumerate(measured):
            charge_answered(engine, item, f"charge-{number}")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        server_seconds = server()
    count = len(measured)
    line = f"{options.database}: {count} charges, wall {wall / count * 1e3:.3f} ms, CPU {cpu / count * 1e3:.3f} ms per charge"
    if server_seconds is not None:
        line += f", PostgreSQL backends' CPU {server_seconds / count * 1e3:.3f} ms per charge"
    print(line)


ServerCpu = Callable[[], Callable[[], float | None]]
"""Starts counting the database server's CPU (when it can be read); the returned function gives the seconds since."""


@contextmanager
def _server_cpu(url: str) -> Iterator[tuple[str, ServerCpu]]:
    """``url`` with an ``application_name`` of its own on PostgreSQL, and a counter of its backends' CPU."""
    if not url.startswith("postgresql"):
        yield url, lambda: lambda: None
        return
    named, name = with_application_name(url, "kopek-bench-engine-cpu")
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:

        def start() -> Callable[[], float | None]:
            pids = backends(admin, name)
            before = cpu_snapshot(pids)
            return lambda: cpu_used(before, cpu_snapshot(pids))

        yield named, start


@contextmanager
def _database(database: str, postgres_url: str) -> Iterator[str]:
    if database == "sqlite":
        with sqlite_database() as url:
            yield url
        return
    with postgres_database(postgres_url) as url:
        yield url


if __name__ == "__main__":
    main()

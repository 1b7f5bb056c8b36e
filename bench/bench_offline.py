"""Durable offline charging against the raw transaction of the same shape (:mod:`bench.raw_charge`): the measures
``offline_http_pg``, ``offline_cpu_per_charge_pg``, ``session_p99_pg_ms`` and ``offline_inprocess_sqlite``.

``offline_http_pg``: ``kopek serve`` (Granian) in a process of its own on a fresh PostgreSQL schema,
``threads`` clients each with one keep-alive HTTP/1.1 connection sending ``POST /v1/charging`` (a fresh
idempotency key per charge, client ``t`` charging subscribers ``t``, ``t + threads``, ...); the baseline is
the raw transaction on a schema of its own, run by as many clients, each with its own psycopg
connection. Rounds alternate between the two sides; each side's figure is the median of its rounds
(charges per second of wall time).

``offline_cpu_per_charge_pg``: in the same rounds, charges per CPU second of the server's process tree
plus its PostgreSQL backends (``/proc/<pid>/stat``, see :mod:`bench.server_process`); the baseline's
is this process (its clients run the raw transaction) plus its backends. Target: 1,000 charges per
core-second.

``session_p99_pg_ms``: on the same server, after the charges: the peak rate of start, update and stop
calls of voice sessions (the same clients, closed loop), then the same clients paced at 70 % of that
rate (open loop: each call has its scheduled instant, and its latency runs from that instant, so a
late server is not hidden by clients that wait for it); the 99th percentile, in ms. Target: 5 ms.

``offline_inprocess_sqlite``: ``Engine.charge`` in this process on a SQLite file, one client, against
the raw transaction through ``sqlite3`` on another file of the same folder; alternate rounds, medians.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import raw_charge
from bench.bench_engine import WARM_UP, charge_answered, prepared_engine, workloads
from bench.bench_http import body
from bench.bench_sessions import session_p99_ms
from bench.measure import Goal, Measure, run_threads
from bench.server_process import (
    Client,
    Server,
    ServerKind,
    backends,
    cpu_snapshot,
    cpu_used,
    kopek_server,
    libpq_url,
    process_tree,
    with_application_name,
)
from kopek import ChargeableItem

HTTP_TARGET_RATIO = 0.5
CPU_TARGET_CHARGES_PER_SECOND = 1000
SESSION_P99_TARGET_MS = 5
INPROCESS_TARGET_RATIO = 0.3
RAW_CHARGES_FACTOR = 5
"""The raw transaction's rounds run this many times kopek's charges, so that they last about as long: a round of a
fraction of a second would be read with the 10 ms steps of /proc's CPU times."""


@dataclass(frozen=True, slots=True)
class Round:
    """One timed round of one side: charges, wall seconds and CPU seconds of the side's processes."""

    charges: int
    wall_seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.charges / self.wall_seconds

    @property
    def per_cpu_second(self) -> float:
        return self.charges / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


def timed_round(calls: Sequence[Sequence[Callable[[], object]]], pids: Callable[[], list[int]]) -> Round:
    """Run the clients' calls at once; the CPU of ``pids()`` (asked before and after) over the same interval."""
    before = cpu_snapshot(pids())
    timings = run_threads(calls)
    after = cpu_snapshot(pids())
    if timings.refused:
        raise RuntimeError(f"{timings.refused} charges refused: {timings.first_refusal}")
    return Round(len(timings.latencies), timings.wall, cpu_used(before, after))


def _split(load: list[ChargeableItem], rounds: int) -> list[list[ChargeableItem]]:
    size = len(load) // rounds
    return [load[number * size : (number + 1) * size] for number in range(rounds)]


def measure_postgres(
    open_database: Callable[[], AbstractContextManager[str]],
    *,
    threads: int,
    subscribers: int,
    per_round: int,
    rounds: int,
    session_seconds: float,
    workers: int = 1,
    kind: ServerKind = ServerKind.GRANIAN,
) -> list[Measure]:
    """``offline_http_pg``, ``offline_cpu_per_charge_pg`` and ``session_p99_pg_ms``, in that order."""
    per_thread = max(1, per_round // threads)
    with ExitStack() as stack:
        kopek_url, raw_url = stack.enter_context(open_database()), stack.enter_context(open_database())
        with prepared_engine(kopek_url, subscribers):
            pass
        raw_url, raw_name = with_application_name(libpq_url(raw_url), "kopek-bench-raw")
        raw_charge.create_postgres(raw_url, subscribers)
        admin = stack.enter_context(psycopg.connect(libpq_url(kopek_url), autocommit=True))
        server = stack.enter_context(kopek_server(kopek_url, workers=workers, kind=kind))
        clients = [Client(server.port) for _ in range(threads)]
        connections = [stack.enter_context(psycopg.connect(raw_url)) for _ in range(threads)]
        chargers = [raw_charge.postgres_charger(connection) for connection in connections]
        try:
            kopek_rounds, raw_rounds = _charge_rounds(server, admin, clients, chargers, raw_name, threads, subscribers, per_thread, rounds)
            p99_ms, peak = session_p99_ms(clients, threads=threads, subscribers=subscribers, seconds=session_seconds)
        finally:
            for client in clients:
                client.close()
    http = Measure(
        "offline_http_pg", "charges/s", _median(r.rate for r in kopek_rounds), _median(r.rate for r in raw_rounds), HTTP_TARGET_RATIO
    )
    cpu = Measure(
        "offline_cpu_per_charge_pg",
        "charges/core-second",
        _median(r.per_cpu_second for r in kopek_rounds),
        _median(r.per_cpu_second for r in raw_rounds),
        CPU_TARGET_CHARGES_PER_SECOND,
        Goal.KOPEK_AT_LEAST,
    )
    print(f"  sessions: peak {peak:,.0f} calls/s, paced at 70 %", flush=True)
    return [http, cpu, Measure("session_p99_pg_ms", "ms", p99_ms, None, SESSION_P99_TARGET_MS, Goal.KOPEK_AT_MOST)]


def _charge_rounds(
    server: Server,
    admin: psycopg.Connection[Any],
    clients: list[Client],
    chargers: list[Callable[[raw_charge.RawCharge], None]],
    raw_name: str,
    threads: int,
    subscribers: int,
    per_thread: int,
    rounds: int,
) -> tuple[list[Round], list[Round]]:
    """Warm both sides up, then alternate ``rounds`` rounds of each; the rounds of kopek and of the raw transaction."""
    loads = [_split(load, rounds) for load in workloads(threads, subscribers, per_thread * rounds, seed=1)]
    raw_per_thread = per_thread * RAW_CHARGES_FACTOR
    raw_loads = raw_charge.raw_charges(threads, subscribers, raw_per_thread * (rounds + 1), prefix="raw")
    for number, item in enumerate(workloads(threads, subscribers, WARM_UP * threads, seed=99)[0][:WARM_UP]):
        clients[0].post("/v1/charging", body(item, f"warm-{number}"))
    for thread, charger in enumerate(chargers):
        for raw in raw_loads[thread][-raw_per_thread:][:WARM_UP]:
            charger(raw)

    def kopek_pids() -> list[int]:
        return process_tree(server.pid) + backends(admin, server.application_name)

    def raw_pids() -> list[int]:
        return [os.getpid(), *backends(admin, raw_name)]

    kopek_rounds: list[Round] = []
    raw_rounds: list[Round] = []
    for number in range(rounds):
        kopek_calls = [
            [
                (lambda client=clients[thread], item=item, key=f"r{number}-t{thread}-{index}": client.post("/v1/charging", body(item, key)))
                for index, item in enumerate(loads[thread][number])
            ]
            for thread in range(threads)
        ]
        kopek_rounds.append(timed_round(kopek_calls, kopek_pids))
        raw_calls = [
            raw_charge.calls(chargers[thread], raw_loads[thread][number * raw_per_thread : (number + 1) * raw_per_thread])
            for thread in range(threads)
        ]
        raw_rounds.append(timed_round(raw_calls, raw_pids))
    return kopek_rounds, raw_rounds


def _median(values: Any) -> float:
    return float(statistics.median(list(values)))


def measure_sqlite(open_database: Callable[[], AbstractContextManager[str]], *, subscribers: int, per_round: int, rounds: int) -> Measure:
    """``offline_inprocess_sqlite``: ``Engine.charge`` against the raw ``sqlite3`` transaction, one client each."""
    with open_database() as url, prepared_engine(url, subscribers) as engine:
        raw_path = url.removeprefix("sqlite:///") + ".raw"
        raw_charge.create_sqlite(raw_path, subscribers)
        connection = raw_charge.sqlite_connection(raw_path)
        try:
            charger = raw_charge.sqlite_charger(connection)
            load = _split(workloads(1, subscribers, per_round * (rounds + 1), seed=1)[0], rounds + 1)
            raw_per_round = per_round * RAW_CHARGES_FACTOR
            raw_load = raw_charge.raw_charges(1, subscribers, raw_per_round * (rounds + 1), prefix="raw")[0]
            for number, item in enumerate(load[rounds][:WARM_UP]):
                charge_answered(engine, item, f"warm-{number}")
            for raw in raw_load[-WARM_UP:]:
                charger(raw)
            ours: list[float] = []
            theirs: list[float] = []
            for number in range(rounds):
                calls = [
                    (lambda item=item, key=f"r{number}-{index}": charge_answered(engine, item, key))
                    for index, item in enumerate(load[number])
                ]
                ours.append(timed_round([calls], list).rate)
                raw_calls = raw_charge.calls(charger, raw_load[number * raw_per_round : (number + 1) * raw_per_round])
                theirs.append(timed_round([raw_calls], list).rate)
        finally:
            connection.close()
    return Measure("offline_inprocess_sqlite", "charges/s", _median(ours), _median(theirs), INPROCESS_TARGET_RATIO)

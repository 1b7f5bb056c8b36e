"""Durable offline charging through ``Engine.charge`` in-process: one commit per item.

Every charge carries a fresh idempotency key, as a careful client would send. Threads
charge disjoint groups of subscribers, so they compete for the database, not for rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import AbstractContextManager

from bench.measure import Row, measured, run_threads
from bench.world import catalog_document, master_data, usage
from kopek import ChargeableItem, Engine
from kopek.errors import Code, KopekError

WARM_UP = 20


def prepared_engine(url: str, subscribers: int) -> Engine:
    engine = Engine(url)
    engine.load_catalog(catalog_document())
    engine.load_master_data(master_data(subscribers))
    return engine


def charge_answered(engine: Engine, item: ChargeableItem, key: str) -> None:
    """``Engine.charge`` of ``item`` under ``key``; the refusal the usage mix asks for (a barred number, about one charge
    in 5,000) is an answer, as it is over HTTP (a 409), not a failure of the benchmark."""
    try:
        engine.charge(item, idempotency_key=key)
    except KopekError as refusal:
        if refusal.code is not Code.SERVICE_NOT_ACCESSIBLE:
            raise


def workloads(threads: int, subscribers: int, items: int, *, seed: int) -> list[list[ChargeableItem]]:
    """``items`` items split over ``threads``; thread ``t`` uses subscribers ``t``, ``t + threads``, ..."""
    per_thread = items // threads
    return [
        list(itertools.islice(usage(list(range(thread, subscribers, threads)), seed=seed + thread), per_thread))
        for thread in range(threads)
    ]


def run(
    name: str, database: str, open_database: Callable[[], AbstractContextManager[str]], *, threads: int, items: int, subscribers: int
) -> Row:
    with open_database() as url, prepared_engine(url, subscribers) as engine:
        for number, item in enumerate(itertools.islice(usage(list(range(subscribers)), seed=99), WARM_UP)):
            engine.charge(item, idempotency_key=f"warm-{number}")
        loads = workloads(threads, subscribers, items, seed=1)
        calls = [
            [(lambda item=item, key=f"t{thread}-{number}": engine.charge(item, idempotency_key=key)) for number, item in enumerate(load)]
            for thread, load in enumerate(loads)
        ]
        timings = run_threads(calls)
    return measured(name, database, threads, timings, f"{subscribers} subscribers, one commit per charge")

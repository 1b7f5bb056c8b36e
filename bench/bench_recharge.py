"""Recharging one contract's month through ``Engine.recharge``, against its baseline in the same run: charging the same
items once, one commit per item.

One subscriber's items are charged, the catalog's SMS prices corrected (0.10 becomes 0.09), and the contract
recharged from the first day: the row gives the items recharged per second. The catalog's usage is of June 2026 and
the engine runs on the system clock, so the retention window is set wide enough to reach it.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bench.measure import Row, Timings, measured, timed_loop
from bench.world import FIRST_USE, catalog_document, master_data, subscriber, usage
from kopek import Engine

RETENTION_DAYS = 3_660


def run(database: str, open_database: Callable[[], AbstractContextManager[str]], *, items: int) -> list[Row]:
    with open_database() as url, Engine(url, recharge_retention_days=RETENTION_DAYS) as engine:
        engine.load_catalog(catalog_document())
        engine.load_master_data(master_data(1))
        month = list(itertools.islice(usage([0], seed=7), items))
        charged = timed_loop([lambda item=item: engine.charge(item) for item in month])
        engine.load_catalog(json.loads(json.dumps(catalog_document()).replace('"0.10"', '"0.09"')))
        started = time.perf_counter()
        result = engine.recharge(f"{subscriber(0)}-contract", FIRST_USE)
        wall = time.perf_counter() - started
    recharged = Timings(wall=wall, latencies=[wall / max(1, result.items_recharged)] * result.items_recharged)
    note = f"one contract, {result.items_changed} items changed, one commit, {result.pricing_path.value} pricing"
    return [
        measured("recharge: Engine.recharge", database, 1, recharged, note),
        measured("recharge baseline: Engine.charge of the same items", database, 1, charged, "one commit per item"),
    ]

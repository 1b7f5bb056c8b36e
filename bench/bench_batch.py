"""Batch rating end to end: pending CDRs in the database -> a rating job -> charged, counters, balances.

The CDRs (the usage mix of :mod:`bench.world`) are imported first, untimed; the row
times starting and running one ``DAY_SUBSCRIPTION_FIRST_FAIL`` job over all of them
with one worker (the row path: a chunk of 1,000 CDRs per transaction, written with
multi-row statements). Peak RSS is the process's peak so far (``ru_maxrss``), so it
includes the import and earlier rows. Item files are written by ``kopek items
export`` afterwards and are not timed here.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bench.bench_engine import prepared_engine
from bench.measure import Row
from bench.world import usage
from kopek.batch.rating_jobs import RatingMode


def run(database: str, open_database: Callable[[], AbstractContextManager[str]], *, cdrs: int, subscribers: int) -> Row:
    with open_database() as url, prepared_engine(url, subscribers) as engine:
        rows = (
            (
                number,
                {
                    "id": f"cdr-{number}",
                    "item_class": item.item_class,
                    "consumption_date": item.consumption_date.isoformat(),
                    "service_id": item.service_id,
                    "user_id": item.user_id,
                    "properties": item.properties,
                },
            )
            for number, item in enumerate(itertools.islice(usage(list(range(subscribers)), seed=7), cdrs), start=1)
        )
        engine.import_cdrs(rows, strict=True)
        began = time.perf_counter()
        status = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL))
        seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    note = (
        f"{subscribers} subscribers, {status.charged} charged, {status.failed} failed, {status.skipped} skipped; peak RSS {peak_mb:.0f} MB"
    )
    return Row("batch: rating job", database, 1, status.total, seconds, [], status.failed + status.skipped, note)

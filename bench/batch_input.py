"""Where a vectorized rating job's time goes: one job in this process under cProfile, its input side named.

``python -m bench.batch_input --cdrs 60000 --database sqlite|postgresql [--rounds 3] [--plain] [--path row]``
sets up (untimed) the benchmark world's catalog, 400 subscribers and ``--cdrs`` pending
CDRs (:mod:`bench.cdr_loader`), then runs one ``DAY_MOST`` job on the vectorized path
(``--path row``: the row path) under cProfile, ``--rounds`` times on fresh copies of the same database, and prints per
round the job's seconds (wall, and this process's CPU) and the cumulative seconds of the steps of a chunk's input side:
reading the pending CDRs, typing them, building the chunk's columns (request hashes,
stored properties text), against the whole chunk (``rate_rows_columnar``). The profiler
slows every Python call alike, so compare shares, and rounds run back to back.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.bench_engine import prepared_engine
from bench.cdr_loader import load_pending_cdrs
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database
from kopek import Engine
from kopek.batch.rating_jobs import RatingMode, RatingPath

STEPS = (
    ("read", ("pending_of_partition", "pending_of_partitions", "pending_columns")),  # The first two: before columns.
    ("type", ("_typed", "typed_chunk")),
    ("columns", ("_frame",)),
    ("chunk", ("rate_rows_columnar",)),
)
"""Each reported step and the functions whose cumulative time it sums."""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_input", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cdrs", type=int, default=60_000)
    parser.add_argument("--subscribers", type=int, default=400)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--plain", action="store_true", help="no profiler: only the job's seconds")
    parser.add_argument("--path", choices=[path.value for path in RatingPath], default=RatingPath.AUTO.value, help="the job's rating path")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kopek-bench-input-") as folder:
        template = Path(folder) / "template.db"
        if options.database == "sqlite":
            _prepare(f"sqlite:///{template}", options.cdrs, options.subscribers)
        for number in range(1, options.rounds + 1):
            with _database(options, template, Path(folder) / f"round-{number}.db") as url:
                print(f"round {number}: " + _profiled_job(url, profiled=not options.plain, path=RatingPath(options.path)), flush=True)


@contextmanager
def _database(options: argparse.Namespace, template: Path, copy: Path) -> Iterator[str]:
    if options.database == "sqlite":
        shutil.copyfile(template, copy)
        yield f"sqlite:///{copy}"
        copy.unlink()
        return
    with postgres_database(options.postgres_url) as url:
        _prepare(url, options.cdrs, options.subscribers)
        yield url


def _prepare(url: str, cdrs: int, subscribers: int) -> None:
    with prepared_engine(url, subscribers):
        pass
    load_pending_cdrs(url, cdrs, subscribers)


def _profiled_job(url: str, *, profiled: bool, path: RatingPath = RatingPath.AUTO) -> str:
    with Engine(url) as engine:
        job_id = engine.start_rating_job(RatingMode.DAY_MOST)
        profile = cProfile.Profile()
        began, cpu = time.perf_counter(), time.process_time()
        if profiled:
            profile.enable()
        status = engine.run_rating_job(job_id, path=path)
        profile.disable()
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    summary = f"{status.charged} charged, paths {[(p.path, p.count) for p in status.paths]} in {seconds:.2f} s ({cpu:.2f} s CPU)"
    if not profiled:
        return summary
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]  # The raw table: {(file, line, name): (..., cumulative, callers)}.
    cumulative = {step: 0.0 for step, _ in STEPS}
    for (_, _, name), entry in stats.items():
        for step, names in STEPS:
            if name in names:
                cumulative[step] += entry[3]
    shares = ", ".join(f"{step} {value:.2f} s" for step, value in cumulative.items())
    return f"{summary} (profiled); {shares}"


if __name__ == "__main__":
    main()

"""What the hot path's kept connections save: one engine, its charges or sessions with and without them, interleaved.

``python -m bench.kept_connections --database sqlite|postgresql [--what charges|sessions] [--blocks 12] [--size 200]``
sets up (untimed) the benchmark world's catalog and ``--subscribers`` subscribers on a fresh SQLite file or PostgreSQL
schema, then runs blocks of ``--size`` charges (or sessions of a start, an update and a stop) alternately with the
engine's kept connections (:mod:`kopek.store.kept_connections`) and with a charging context without them, each pair's
order alternated, and prints the median of each side's CPU per charge or session (this thread's, ``time.thread_time``).
In one process and interleaved, both sides run under the same load, which moves this machine's speed by a third from one
run to the next.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from bench.bench_engine import charge_answered, prepared_engine, workloads
from bench.databases import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from bench.world import FIRST_USE, SERVICE, user
from kopek import Engine
from kopek.charging.session_views import StartSession, StopSession, UpdateSession

WARM_UP_BLOCKS = 1
"""Blocks of each side run untimed first."""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.kept_connections", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--what", choices=("charges", "sessions"), default="charges")
    parser.add_argument("--blocks", type=int, default=12, help="timed blocks of each side")
    parser.add_argument("--size", type=int, default=200, help="charges or sessions per block")
    parser.add_argument("--subscribers", type=int, default=400)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    options = parser.parse_args()
    database = sqlite_database() if options.database == "sqlite" else postgres_database(options.postgres_url)
    with database as url, prepared_engine(url, options.subscribers) as engine:
        run = _charges(engine, options.subscribers) if options.what == "charges" else _sessions(engine, options.subscribers)
        kept = engine._charging  # The engine's own context, and the same one without its kept connections.
        sides = {"kept": kept, "pool": dataclasses.replace(kept, connections=None)}
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        for number in range(WARM_UP_BLOCKS + options.blocks):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            for side in order:
                engine._charging = sides[side]
                began = time.thread_time()
                for _ in range(options.size):
                    run()
                if number >= WARM_UP_BLOCKS:
                    seconds[side].append((time.thread_time() - began) / options.size)
        engine._charging = kept
    lower = sum(ours < theirs for ours, theirs in zip(seconds["kept"], seconds["pool"], strict=True))
    medians = {side: statistics.median(values) * 1e6 for side, values in seconds.items()}
    unit = "charge" if options.what == "charges" else "session (3 steps)"
    print(
        f"{options.database}: CPU per {unit}, median of {options.blocks} blocks of {options.size}: kept {medians['kept']:.0f} µs, "
        f"pool {medians['pool']:.0f} µs ({100 * (medians['kept'] / medians['pool'] - 1):+.1f} %); kept lower in {lower} blocks"
    )


def _charges(engine: Engine, subscribers: int) -> Callable[[], None]:
    items = itertools.cycle(workloads(1, subscribers, 10_000, seed=1)[0])
    keys = itertools.count()
    return lambda: charge_answered(engine, next(items), f"charge-{next(keys)}")


def _sessions(engine: Engine, subscribers: int) -> Callable[[], None]:
    numbers: Iterator[int] = itertools.count()

    def session() -> None:
        number = next(numbers)
        session_id = f"kept-{number}"
        engine.start_session(
            StartSession(
                session_id, "voice_call", SERVICE, user(number % subscribers), FIRST_USE + timedelta(seconds=number), 60_000,
                "duration", {"destination": "33140000000"}, requested_quantity="300",
            )
        )  # fmt: skip
        engine.update_session(UpdateSession(session_id, "120", "300"))
        engine.stop_session(StopSession(session_id, "60"))

    return session


if __name__ == "__main__":
    main()

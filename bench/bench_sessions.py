"""Online charging sessions through ``Engine``: the latency of start, update and stop, one commit each.

Each session is a voice call of one subscriber: start (grant up to 300 s and reserve),
one update (120 s used, next grant reserved), stop (60 s more, the rest released).
Subscribers are taken in turn, so consecutive sessions do not wait for one another's rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from bench.bench_engine import prepared_engine
from bench.measure import Row
from bench.world import FIRST_USE, SERVICE, user
from kopek.charging.session_views import StartSession, StopSession, UpdateSession

STEPS = ("start", "update", "stop")


def run(database: str, open_database: Callable[[], AbstractContextManager[str]], *, sessions: int, subscribers: int) -> list[Row]:
    latencies: dict[str, list[float]] = {step: [] for step in STEPS}
    with open_database() as url, prepared_engine(url, subscribers) as engine:
        for number in range(sessions):
            session_id = f"bench-{number}"
            start = StartSession(
                session_id, "voice_call", SERVICE, user(number % subscribers), FIRST_USE + timedelta(seconds=number), 60_000,
                "duration", {"destination": "33140000000"}, requested_quantity="300",
            )  # fmt: skip
            calls: dict[str, Callable[[], object]] = {
                "start": lambda start=start: engine.start_session(start),
                "update": lambda session_id=session_id: engine.update_session(UpdateSession(session_id, "120", "300")),
                "stop": lambda session_id=session_id: engine.stop_session(StopSession(session_id, "60")),
            }
            for step in STEPS:
                began = time.perf_counter()
                calls[step]()
                latencies[step].append(time.perf_counter() - began)
    note = f"{subscribers} subscribers, one commit per call"
    return [Row(f"sessions: {step}", database, 1, len(latencies[step]), sum(latencies[step]), latencies[step], 0, note) for step in STEPS]

"""Online charging sessions through ``Engine``: the latency of start, update and stop, one commit each.

Each session is a voice call of one subscriber: start (grant up to 300 s and reserve),
one update (120 s used, next grant reserved), stop (60 s more, the rest released).
Subscribers are taken in turn, so consecutive sessions do not wait for one another's rows.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Protocol

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


PACED_FRACTION = 0.7
"""The paced clients call at this fraction of the peak rate measured just before."""
PEAK_SHARE_OF_SECONDS = 0.4
"""Of the seconds given to ``session_p99_ms``, this share goes to the peak, the rest to the paced run."""


def _session_calls(number: int, thread: int, *, threads: int, subscribers: int) -> list[tuple[str, dict[str, object]]]:
    """The three HTTP calls (path, body) of session ``number`` of client ``thread``; clients use disjoint subscribers."""
    users = range(thread, subscribers, threads)
    session_id = f"paced-{thread}-{number}"
    start = {
        "session_id": session_id,
        "service_id": SERVICE,
        "user_id": user(users[number % len(users)]),
        "consumption_date": (FIRST_USE + timedelta(seconds=number)).isoformat(),
        "ttl_ms": 60_000,
        "quantity_property": "duration",
        "requested_quantity": "300",
        "item": {"item_class": "voice_call", "properties": {"destination": "33140000000"}},
    }
    return [
        ("/v1/sessions", start),
        (f"/v1/sessions/{session_id}/updates", {"used_quantity": "120", "requested_quantity": "300"}),
        (f"/v1/sessions/{session_id}/stop", {"used_quantity": "60"}),
    ]


class _Poster(Protocol):
    def post(self, path: str, document: dict[str, Any]) -> bytes: ...


def session_p99_ms(clients: Sequence[_Poster], *, threads: int, subscribers: int, seconds: float) -> tuple[float, float]:
    """The p99 latency (ms) of session calls paced at 70 % of the peak rate, and that peak (calls/s).

    Peak: the clients call one after another without pause for about ``PEAK_SHARE_OF_SECONDS`` of
    ``seconds``. Paced: each client's calls are scheduled at fixed instants (all clients together at 70 %
    of the peak); a call's latency runs from its scheduled instant to its answer.
    """
    counter = itertools.count()
    peak_until = time.perf_counter() + seconds * PEAK_SHARE_OF_SECONDS
    done = [0] * threads

    def closed_loop(thread: int) -> None:
        while time.perf_counter() < peak_until:
            for path, document in _session_calls(next(counter), thread, threads=threads, subscribers=subscribers):
                clients[thread].post(path, document)
                done[thread] += 1

    began = time.perf_counter()
    _together([lambda thread=thread: closed_loop(thread) for thread in range(threads)])
    peak = sum(done) / (time.perf_counter() - began)
    rate = peak * PACED_FRACTION
    per_client = max(3, int(rate * seconds * (1 - PEAK_SHARE_OF_SECONDS) / threads) // 3 * 3)
    latencies: list[float] = []
    origin = time.perf_counter() + 0.05

    def paced(thread: int) -> None:
        for call in range(per_client):
            step = call % 3
            if step == 0:
                session = _session_calls(next(counter), thread, threads=threads, subscribers=subscribers)
            scheduled = origin + (call * threads + thread) / rate
            pause = scheduled - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            clients[thread].post(*session[step])
            latencies.append(time.perf_counter() - scheduled)

    _together([lambda thread=thread: paced(thread) for thread in range(threads)])
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, peak


def _together(work: Sequence[Callable[[], None]]) -> None:
    """Run each function in its own thread and wait for all; the first failure is raised."""
    failures: list[BaseException] = []

    def guarded(function: Callable[[], None]) -> None:
        try:
            function()
        except BaseException as error:
            failures.append(error)

    started = [threading.Thread(target=guarded, args=(function,), daemon=True) for function in work]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if failures:
        raise failures[0]

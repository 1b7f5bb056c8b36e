"""Fakes for tests: a clock that only moves when told, ids that count."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta


class FixedClock:
    """A clock standing at ``start`` until :meth:`advance` moves it."""

    def __init__(self, start: datetime = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class SequentialIds:
    """Ids ``op-000001``, ``op-000002``, ... safe across threads."""

    def __init__(self, prefix: str = "op") -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._prefix = prefix

    def __call__(self) -> str:
        with self._lock:
            return f"{self._prefix}-{next(self._counter):06d}"


class FakeTicks:
    """A monotonic clock (seconds) that only moves when told: what the engine's caches measure their age with."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds

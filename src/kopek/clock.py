"""The sources of time and identity that the shell passes to use cases (never read inside the core)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol, runtime_checkable

Clock = Callable[[], datetime]
IdSource = Callable[[], str]
Ticks = Callable[[], float]
"""Seconds on a monotonic clock: how long a cache has kept what it read (never a date)."""


def system_clock() -> datetime:
    """The current instant, time-zone aware (UTC)."""
    return datetime.now(UTC)


def system_ticks() -> float:
    """Seconds on the system's monotonic clock."""
    return time.monotonic()


class RandomIds:
    """New identifiers: 32 hex digits, the first 12 the milliseconds since 1970, the other 20 random.

    Ordered by time like a UUID version 7, so the rows a busy system inserts land at the
    end of their indexes instead of on random pages (far fewer page writes on large
    tables); 80 random bits keep ids made in one millisecond apart.
    """

    _RANDOM_BYTES = 10

    def __call__(self) -> str:
        return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(8 * self._RANDOM_BYTES):020x}"

    def many(self, count: int) -> list[str]:
        """``count`` identifiers of the same form from one read of the system's random source (a read per id is a
        system call per id, and a rating job's chunk names thousands of operations at once)."""
        millis = f"{time.time_ns() // 1_000_000:012x}"
        noise = secrets.token_bytes(self._RANDOM_BYTES * count).hex()
        width = 2 * self._RANDOM_BYTES
        return [millis + noise[start : start + width] for start in range(0, width * count, width)]


@runtime_checkable
class ManyIds(Protocol):
    """An id source that can make many ids at once more cheaply than one at a time."""

    def many(self, count: int) -> list[str]: ...


random_ids: Final = RandomIds()
"""The id source of an engine unless it is given another."""


def new_ids(source: IdSource, count: int) -> list[str]:
    """``count`` new identifiers from ``source``: at once when it can make many (:class:`ManyIds`), else one by one."""
    if isinstance(source, ManyIds):
        return source.many(count)
    return [source() for _ in range(count)]

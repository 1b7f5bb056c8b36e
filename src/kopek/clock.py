"""The sources of time and identity that the shell passes to use cases (never read inside the core)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

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


def random_ids() -> str:
    """A new identifier: 32 hex digits, the first 12 the milliseconds since 1970, the other 20 random.

    Ordered by time like a UUID version 7, so the rows a busy system inserts land at the
    end of their indexes instead of on random pages (far fewer page writes on large
    tables); 80 random bits keep ids made in one millisecond apart.
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"


def new_ids(source: IdSource, count: int) -> list[str]:
    """``count`` new identifiers from ``source``; made as :func:`random_ids` makes them from one read of the system's
    random source when ``source`` is :func:`random_ids` (a rating job's chunk names thousands of operations at once,
    and a read per id is a system call per id)."""
    if source is not random_ids:
        return [source() for _ in range(count)]
    millis = f"{time.time_ns() // 1_000_000:012x}"
    noise = secrets.token_bytes(_RANDOM_BYTES * count).hex()
    width = 2 * _RANDOM_BYTES
    return [millis + noise[start : start + width] for start in range(0, width * count, width)]


_RANDOM_BYTES = 10
"""The random part of an id: 80 bits."""

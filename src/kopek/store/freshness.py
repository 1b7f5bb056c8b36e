"""How long a process may trust what it read of rarely changing tables (catalog versions, API keys) before reading again.

A change made by this process reaches its caches at once (they are told to forget);
a change made by another process (the CLI, another server) within
:data:`CACHE_FRESH_SECONDS`, when the cache reads its table again. Time is measured
on an injected monotonic clock, so tests advance it instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kopek.clock import Ticks

CACHE_FRESH_SECONDS: Final = 1.0
"""How long a cached catalog version or API key list is used before it is read again."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A read of a cached table begun at tick ``at``, after ``forgotten`` calls of :meth:`Freshness.forget`."""

    at: float
    forgotten: int


class Freshness:
    """When a cache last read its table, and whether that is older than :data:`CACHE_FRESH_SECONDS`."""

    def __init__(self, ticks: Ticks) -> None:
        self._ticks = ticks
        self._read_at: float | None = None
        self._forgotten = 0

    def stale(self) -> bool:
        read_at = self._read_at
        return read_at is None or self._ticks() - read_at >= CACHE_FRESH_SECONDS

    def start_reading(self) -> Reading:
        """What to pass to :meth:`read` once the table is read: the tick is taken before the read, so a change made
        during it is read again within the freshness time."""
        return Reading(self._ticks(), self._forgotten)

    def read(self, reading: Reading) -> bool:
        """Count the cache fresh from ``reading``; false (and still stale) when it was forgotten meanwhile, so a read
        begun before this process changed the table is not trusted."""
        if reading.forgotten != self._forgotten:
            return False
        self._read_at = reading.at
        return True

    def forget(self) -> None:
        """Read again at the next use: this process has just changed the table."""
        self._forgotten += 1
        self._read_at = None

"""The active API keys, kept in memory by secret digest, so a request is authorized without a transaction of its own.

The cache reads the active keys again at most once per :data:`CACHE_FRESH_SECONDS`
(one statement in a reading transaction; the table holds a handful of rows). A key
created or revoked by this process is seen at once (the engine calls
:meth:`ApiKeyCache.forget`); one created or revoked by another process (``kopek api-keys``,
another server) within that time, and so is a role changed in the table.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from kopek.clock import Ticks, system_ticks
from kopek.store.freshness import CACHE_FRESH_SECONDS, Freshness
from kopek.store.uow import UnitOfWork

__all__ = ["CACHE_FRESH_SECONDS", "ApiKeyCache"]

_NONE: Mapping[str, Mapping[str, Any]] = MappingProxyType({})


class ApiKeyCache:
    """The active API keys of one database, by the SHA-256 digest of their secret."""

    def __init__(self, engine: sa.Engine, ticks: Ticks = system_ticks) -> None:
        self._engine = engine
        self._by_digest = _NONE
        self._freshness = Freshness(ticks)
        self._lock = threading.Lock()

    def active(self) -> Mapping[str, Mapping[str, Any]]:
        """The active keys' rows by ``secret_sha256``; empty while no key is active (the API may then be open)."""
        fresh = self.active_if_fresh()
        if fresh is not None:
            return fresh
        reading = self._freshness.start_reading()
        with UnitOfWork(self._engine, writes=False) as uow:
            rows = uow.api_keys.active()
        by_digest = MappingProxyType({row["secret_sha256"]: MappingProxyType(row) for row in rows})
        with self._lock:
            if self._freshness.read(reading):
                self._by_digest = by_digest
        return by_digest

    def active_if_fresh(self) -> Mapping[str, Mapping[str, Any]] | None:
        """The active keys as :meth:`active` gives them when that needs no read of the table; ``None`` when it does
        (so a caller on an event loop can send that read to a thread instead of blocking the loop)."""
        return None if self._freshness.stale() else self._by_digest

    def forget(self) -> None:
        """Read the keys again at the next request: this process has just created or revoked one."""
        with self._lock:
            self._freshness.forget()

"""The newest catalog, parsed once per version and kept in memory beside the catalog store.

Charging needs the newest catalog on every call. The cache answers from memory and
reads the newest version number again at most once per :data:`CACHE_FRESH_SECONDS`,
inside the caller's own transaction: a catalog loaded by this process is used at
once (the loader calls :meth:`CatalogCache.forget`), one loaded by another process
within that time. The document is read and parsed only when the version changed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from kopek.clock import Ticks, system_ticks
from kopek.domain.catalog import Catalog
from kopek.errors import Code, PrerequisiteMissingError
from kopek.store.freshness import CACHE_FRESH_SECONDS, Freshness
from kopek.store.uow import UnitOfWork

__all__ = ["CACHE_FRESH_SECONDS", "CatalogCache", "CatalogVersion"]


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    version: int
    catalog: Catalog
    created: bool = True
    """False when a load found this very catalog already the newest version and stored nothing."""


class CatalogCache:
    """Keeps the parsed newest catalog; checks for a newer version at most once per :data:`CACHE_FRESH_SECONDS`."""

    def __init__(self, ticks: Ticks = system_ticks) -> None:
        self._current: CatalogVersion | None = None
        self._freshness = Freshness(ticks)
        self._lock = threading.Lock()

    def current(self, uow: UnitOfWork) -> CatalogVersion:
        """The newest catalog; CATALOG_NOT_LOADED (PREREQUISITE_MISSING) while none is stored."""
        cached = self._current
        if cached is not None and not self._freshness.stale():
            return cached
        reading = self._freshness.start_reading()
        version = uow.catalogs.latest_version()
        if version is None:
            raise PrerequisiteMissingError(code=Code.CATALOG_NOT_LOADED, message="no catalog is loaded; load one with 'kopek catalog load'")
        if cached is None or cached.version != version:
            cached = CatalogVersion(version, Catalog.model_validate(json.loads(uow.catalogs.document(version))))
        with self._lock:
            if self._freshness.read(reading):
                self._current = cached
        return cached

    def forget(self) -> None:
        """Check the newest version at the next call: this process has just loaded a catalog."""
        with self._lock:
            self._freshness.forget()

"""Catalog administration: validate a catalog file, load it as a new version, serve the current one."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from kopek.domain.catalog import Catalog
from kopek.domain.catalog_load import catalog_from_document
from kopek.errors import Code, PrerequisiteMissingError
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    version: int
    catalog: Catalog


def load_catalog(uow: UnitOfWork, document: Any, *, source: str, actor: str, at: Any) -> CatalogVersion:
    """Validate ``document`` and store it as the newest catalog version; audited."""
    catalog = catalog_from_document(document, source=source)
    text = json.dumps(catalog.model_dump(mode="json", by_alias=True), sort_keys=True)
    version = uow.catalogs.insert(document=text, source=source, at=at)
    uow.catalogs.audit(
        at=at,
        actor=actor,
        action="catalog.load",
        target=f"catalog/{version}",
        details={"source": source, "item_classes": len(catalog.item_classes), "charge_plans": len(catalog.charge_plans)},
    )
    uow.commit()
    return CatalogVersion(version, catalog)


class CatalogCache:
    """Keeps the parsed newest catalog; re-reads it only when a newer version is stored."""

    def __init__(self) -> None:
        self._current: CatalogVersion | None = None
        self._lock = threading.Lock()

    def current(self, uow: UnitOfWork) -> CatalogVersion:
        version = uow.catalogs.latest_version()
        if version is None:
            raise PrerequisiteMissingError(code=Code.CATALOG_NOT_LOADED, message="no catalog is loaded; load one with 'kopek catalog load'")
        cached = self._current
        if cached is not None and cached.version == version:
            return cached
        document = json.loads(uow.catalogs.document(version))
        loaded = CatalogVersion(version, Catalog.model_validate(document))
        with self._lock:
            self._current = loaded
        return loaded

"""Stored catalogs (each load is a new version) and the audit log of administrative operations."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import audit_log, catalogs


class CatalogStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def latest_version(self) -> int | None:
        return self._connection.execute(sa.select(sa.func.max(catalogs.c.version))).scalar_one_or_none()

    def document(self, version: int) -> str:
        document: str = self._connection.execute(sa.select(catalogs.c.document).where(catalogs.c.version == version)).scalar_one()
        return document

    def insert(self, *, document: str, source: str, at: datetime) -> int:
        result = self._connection.execute(sa.insert(catalogs).values(document=document, source=source, loaded_at=at))
        version = result.inserted_primary_key[0] if result.inserted_primary_key else None
        assert isinstance(version, int)
        return version

    def audit(self, *, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        self._connection.execute(
            sa.insert(audit_log).values(at=at, actor=actor, action=action, target=target, details=json.dumps(details, sort_keys=True))
        )

    def audit_entries(self, limit: int) -> list[dict[str, Any]]:
        rows = self._connection.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)).mappings()
        return [dict(row) | {"details": json.loads(row["details"])} for row in rows]

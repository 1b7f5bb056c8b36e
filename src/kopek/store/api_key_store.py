"""API keys: their names, roles and secret digests (never the secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import api_keys

_ACTIVE = sa.select(api_keys).where(api_keys.c.revoked_at.is_(None))


class ApiKeyStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(api_keys).values(**values))

    def by_name(self, name: str) -> dict[str, Any] | None:
        row = self._connection.execute(sa.select(api_keys).where(api_keys.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def active_by_digest(self, secret_sha256: str) -> dict[str, Any] | None:
        query = sa.select(api_keys).where(api_keys.c.secret_sha256 == secret_sha256, api_keys.c.revoked_at.is_(None))
        row = self._connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def active(self) -> list[dict[str, Any]]:
        """Every active key (a handful: what :class:`kopek.store.api_key_cache.ApiKeyCache` keeps in memory)."""
        return [dict(row) for row in self._connection.execute(_ACTIVE).mappings()]

    def active_names(self, *, lock: bool = False) -> list[str]:
        """The names of the active keys; ``lock`` holds their rows (PostgreSQL), so two revocations cannot both leave none."""
        query = sa.select(api_keys.c.name).where(api_keys.c.revoked_at.is_(None)).order_by(api_keys.c.name)
        return list(self._connection.execute(query.with_for_update() if lock else query).scalars())

    def listing(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._connection.execute(sa.select(api_keys).order_by(api_keys.c.name)).mappings()]

    def revoke(self, name: str, at: datetime) -> bool:
        """Revoke the active key ``name``; false when there is none."""
        query = sa.update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None)).values(revoked_at=at)
        return self._connection.execute(query).rowcount == 1

"""Stored catalogs (each load of a changed catalog is a new version), and what the contracts use of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.audit_store import AuditStore
from kopek.store.schema import activation_counters, catalogs, charging_sessions, contract_items, counters

LIVE_SESSION = "active"


class CatalogStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def latest_version(self) -> int | None:
        return self._connection.execute(sa.select(sa.func.max(catalogs.c.version))).scalar_one_or_none()

    def document(self, version: int) -> str:
        document: str = self._connection.execute(sa.select(catalogs.c.document).where(catalogs.c.version == version)).scalar_one()
        return document

    def document_or_none(self, version: int) -> str | None:
        found: str | None = self._connection.execute(
            sa.select(catalogs.c.document).where(catalogs.c.version == version)
        ).scalar_one_or_none()
        return found

    def insert(self, *, document: str, source: str, at: datetime) -> int:
        result = self._connection.execute(sa.insert(catalogs).values(document=document, source=source, loaded_at=at))
        version = result.inserted_primary_key[0] if result.inserted_primary_key else None
        assert isinstance(version, int)
        return version

    # ---- what the contracts use of a catalog (a new version must keep it) ----------------------

    def charge_plans_in_use(self) -> set[str]:
        """The charge plans some contract item activates."""
        return set(self._connection.execute(sa.select(contract_items.c.charge_plan).distinct()).scalars())

    def contracts_using_plan(self, plan: str, *, limit: int) -> list[str]:
        query = sa.select(contract_items.c.contract_id).where(contract_items.c.charge_plan == plan).distinct()
        return list(self._connection.execute(query.order_by(contract_items.c.contract_id).limit(limit)).scalars())

    def counters_in_use(self) -> set[str]:
        """The names of the counters some contract holds a value of (contract, contract item and activation scopes)."""
        held = sa.union(sa.select(counters.c.name), sa.select(activation_counters.c.name))
        return set(self._connection.execute(sa.select(held.subquery().c.name)).scalars())

    def contracts_holding_counter(self, name: str, *, limit: int) -> list[str]:
        held = sa.union(
            sa.select(counters.c.contract_id).where(counters.c.name == name),
            sa.select(activation_counters.c.contract_id).where(activation_counters.c.name == name),
        ).subquery()
        return list(self._connection.execute(sa.select(held.c.contract_id).order_by(held.c.contract_id).limit(limit)).scalars())

    def item_classes_of_live_sessions(self) -> set[str]:
        query = sa.select(charging_sessions.c.item_class).where(charging_sessions.c.status == LIVE_SESSION).distinct()
        return set(self._connection.execute(query).scalars())

    def contracts_with_live_sessions_of(self, item_class: str, *, limit: int) -> list[str]:
        query = (
            sa.select(charging_sessions.c.contract_id)
            .where(charging_sessions.c.status == LIVE_SESSION, charging_sessions.c.item_class == item_class)
            .distinct()
            .order_by(charging_sessions.c.contract_id)
            .limit(limit)
        )
        return list(self._connection.execute(query).scalars())

    def audit(self, *, at: datetime, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        """A succeeded operation, in the audit log (kept for the callers that wrote it here first; see AuditStore)."""
        AuditStore(self._connection).record(at=at, actor=actor, action=action, target=target, details=details)

    def audit_entries(self, limit: int) -> list[dict[str, Any]]:
        return AuditStore(self._connection).newest(limit)

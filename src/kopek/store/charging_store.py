"""The records of charging: operations (with their idempotency keys), charged items,
notifications and the chargeable items kept for export."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.bulk import insert_many
from kopek.store.key_locks import KeySpace, serialise_key
from kopek.store.schema import charged_items, charging_operations, exported_items, notifications

KEYS_PER_QUERY = 5_000
"""Keys bound in one ``IN`` list (SQLite binds at most 32,766 values per statement)."""


class ChargingStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def operation_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """The request hash and stored result of the operation with this key, if any.

        Calls with one key wait here for each other (:mod:`kopek.store.key_locks`), so the look-up
        sees the result of a call with the key that committed while this one waited.
        """
        serialise_key(self._connection, KeySpace.CHARGING, idempotency_key)
        row = self._connection.execute(
            sa.select(charging_operations.c.request_hash, charging_operations.c.result).where(
                charging_operations.c.idempotency_key == idempotency_key
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    def insert_operation(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(charging_operations).values(**values))

    def insert_operations(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_many(self._connection, charging_operations, rows)

    def insert_charged_items(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_many(self._connection, charged_items, rows)

    def insert_notifications(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._connection.execute(sa.insert(notifications), [row | {"data": json.dumps(row["data"], sort_keys=True)} for row in rows])

    def insert_exported_item(self, *, operation_id: str, item: dict[str, Any], at: datetime) -> None:
        self._connection.execute(
            sa.insert(exported_items).values(operation_id=operation_id, item=json.dumps(item, sort_keys=True), created_at=at)
        )

    def charged_items_of(self, contract_id: str, *, limit: int) -> list[dict[str, Any]]:
        query = sa.select(charged_items).where(charged_items.c.contract_id == contract_id).order_by(charged_items.c.id).limit(limit)
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def count_operations(self) -> int:
        return self._connection.execute(sa.select(sa.func.count()).select_from(charging_operations)).scalar_one()

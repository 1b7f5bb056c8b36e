"""Activations of contract items, the fee periods they charged, refills, and bonus counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.domain.activations import Activation, ActivationKind, ActivationStatus
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.domain.refills import StoredCounter
from kopek.store.schema import account_operations, activations, charging_operations, contracts, counters, fee_applications, refills


class ActivationStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    # ---- activations and fee periods ------------------------------------------------------

    def contract_ids_after(self, after: str, *, limit: int) -> list[str]:
        """Up to ``limit`` contract ids greater than ``after``, in order (the pages of a fee run)."""
        query = sa.select(contracts.c.id).where(contracts.c.id > after).order_by(contracts.c.id).limit(limit)
        return list(self._connection.execute(query).scalars())

    def activations_of(self, contract_id: str) -> dict[str, Activation]:
        query = sa.select(activations).where(activations.c.contract_id == contract_id).order_by(activations.c.id)
        return {row["id"]: _activation(row) for row in self._connection.execute(query).mappings()}

    def insert_activation(self, activation: Activation) -> None:
        self._connection.execute(
            sa.insert(activations).values(
                contract_id=activation.contract_id,
                id=activation.id,
                item_id=activation.item_id,
                kind=activation.kind.value,
                status=activation.status.value,
                last_activation_date=activation.last_activation_date,
            )
        )

    def update_activation(self, activation: Activation) -> None:
        self._connection.execute(
            sa.update(activations)
            .where(activations.c.contract_id == activation.contract_id, activations.c.id == activation.id)
            .values(status=activation.status.value, last_activation_date=activation.last_activation_date)
        )

    def last_applied(self, contract_id: str) -> dict[tuple[str, str], datetime]:
        """The start of the latest charged period of each (activation, fee) of a contract."""
        query = (
            sa.select(fee_applications.c.activation_id, fee_applications.c.fee, sa.func.max(fee_applications.c.period_start))
            .where(fee_applications.c.contract_id == contract_id)
            .group_by(fee_applications.c.activation_id, fee_applications.c.fee)
        )
        return {(row[0], row[1]): row[2] for row in self._connection.execute(query)}

    def insert_fee_periods(
        self, operations: Sequence[dict[str, Any]], fee_periods: Sequence[dict[str, Any]], account_rows: Sequence[dict[str, Any]]
    ) -> None:
        """Store charged fee periods: their operations, their rows in ``fee_applications`` and their
        account operations, each table in one multi-row insert (parents first)."""
        for table, rows in ((charging_operations, operations), (fee_applications, fee_periods), (account_operations, account_rows)):
            if rows:
                self._connection.execute(sa.insert(table), list(rows))

    def fee_applications_of(self, contract_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(fee_applications)
            .where(fee_applications.c.contract_id == contract_id)
            .order_by(fee_applications.c.period_start, fee_applications.c.activation_id, fee_applications.c.fee)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    # ---- refills ---------------------------------------------------------------------------

    def refill(self, refill_id: str) -> tuple[str, str] | None:
        """The request hash and stored result of refill ``refill_id``, if it was applied."""
        row = self._connection.execute(sa.select(refills.c.request_hash, refills.c.result).where(refills.c.id == refill_id)).first()
        return (row[0], row[1]) if row is not None else None

    def insert_refill(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(refills).values(**values))

    def stored_counter(self, key: CounterKey) -> StoredCounter | None:
        row = (
            self._connection.execute(sa.select(counters.c.value, counters.c.period_start, counters.c.expires_at).where(*_counter_row(key)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return StoredCounter(row["value"], row["period_start"], row["expires_at"])

    def write_counter(self, change: CounterChange) -> None:
        """Store a counter's value with its period start and expiry; the caller holds the contract's lock."""
        key = change.key
        values = {"value": change.after, "period_start": change.period_start, "expires_at": change.expires_at}
        updated = self._connection.execute(sa.update(counters).where(*_counter_row(key)).values(**values))
        if updated.rowcount == 0:
            row = {"contract_id": key.contract_id, "item_id": key.item_id, "name": key.name, "unit": change.unit.value}
            self._connection.execute(sa.insert(counters).values(**row, **values))


def _counter_row(key: CounterKey) -> tuple[sa.ColumnElement[bool], ...]:
    return (counters.c.contract_id == key.contract_id, counters.c.item_id == key.item_id, counters.c.name == key.name)


def _activation(row: sa.RowMapping) -> Activation:
    return Activation(
        contract_id=row["contract_id"],
        id=row["id"],
        item_id=row["item_id"],
        kind=ActivationKind(row["kind"]),
        status=ActivationStatus(row["status"]),
        last_activation_date=row["last_activation_date"],
    )

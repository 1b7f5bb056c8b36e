"""Activations of contract items, the journal of their changes, the fee periods they charged, refills, and bonus counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.domain.activations import Activation, ActivationKind, ActivationStatus
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.domain.refills import StoredCounter
from kopek.store.schema import (
    account_operations,
    activation_journal,
    activations,
    charging_operations,
    contracts,
    counters,
    fee_applications,
    refills,
)


@dataclass(frozen=True, slots=True)
class ActivationChange:
    """One change a fee run made to an activation: ``before`` is the activation as it was (``None``: it did not exist),
    ``effective_at`` the consumption date of the change (the start of the fee period it charged or could not charge,
    else the run's until date), ``operation_id`` the fee period's operation when it charged one."""

    contract_id: str
    activation_id: str
    before: Activation | None
    effective_at: datetime
    operation_id: str | None


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

    # ---- the activation journal ------------------------------------------------------------

    def journal(self, changes: Sequence[ActivationChange], *, at: datetime) -> None:
        """Journal ``changes`` in the order they were made (under the contract's lock, so ids follow that order)."""
        rows = [
            {
                "contract_id": change.contract_id,
                "activation_id": change.activation_id,
                "operation_id": change.operation_id,
                "effective_at": change.effective_at,
                "present": change.before is not None,
                "item_id": change.before.item_id if change.before is not None else "",
                "kind": change.before.kind.value if change.before is not None else "",
                "status": change.before.status.value if change.before is not None else "",
                "last_activation_date": change.before.last_activation_date if change.before is not None else None,
                "recorded_at": at,
            }
            for change in changes
        ]
        if rows:
            self._connection.execute(sa.insert(activation_journal), rows)

    def activations_as_of(self, contract_id: str, at: datetime) -> tuple[dict[str, Activation | None], datetime | None]:
        """For each activation a fee run changed with effect at or after ``at``, the activation before the first such change
        (``None``: it did not exist), and when the earliest of those changes was recorded (``None``: there was none)."""
        query = (
            sa.select(activation_journal)
            .where(activation_journal.c.contract_id == contract_id, activation_journal.c.effective_at >= at)
            .order_by(activation_journal.c.id)
        )
        found: dict[str, Activation | None] = {}
        earliest: datetime | None = None
        for row in self._connection.execute(query).mappings():
            earliest = row["recorded_at"] if earliest is None else min(earliest, row["recorded_at"])
            if row["activation_id"] in found:
                continue
            found[row["activation_id"]] = _journaled(row) if row["present"] else None
        return found, earliest

    def fee_periods_unjournaled(self, contract_id: str, at: datetime) -> int:
        """How many fee periods starting at or after ``at`` were charged with no journal entry (before the journal began,
        or pruned since)."""
        journaled = sa.select(activation_journal.c.id).where(activation_journal.c.operation_id == fee_applications.c.operation_id)
        query = (
            sa.select(sa.func.count())
            .select_from(fee_applications)
            .where(fee_applications.c.contract_id == contract_id, fee_applications.c.period_start >= at, ~journaled.exists())
        )
        return int(self._connection.execute(query).scalar_one())

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


def _activation(row: sa.RowMapping, *, id_column: str = "id") -> Activation:
    return Activation(
        contract_id=row["contract_id"],
        id=row[id_column],
        item_id=row["item_id"],
        kind=ActivationKind(row["kind"]),
        status=ActivationStatus(row["status"]),
        last_activation_date=row["last_activation_date"],
    )


def _journaled(row: sa.RowMapping) -> Activation:
    """An activation as a journal entry keeps it (its id under ``activation_id``)."""
    return _activation(row, id_column="activation_id")

"""Reading and replacing contract states (counters, activations, snapshot fields) a page of contracts at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from kopek.domain.master import ContractStatus
from kopek.store.schema import activations, contract_items, contracts, counters


class ContractStateStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def contract_ids(self, *, after: str, limit: int, selected: Sequence[str] | None = None) -> list[str]:
        """The next ``limit`` contract ids after ``after`` in id order, among ``selected`` when given."""
        query = sa.select(contracts.c.id).where(contracts.c.id > after).order_by(contracts.c.id).limit(limit)
        if selected is not None:
            query = query.where(self._among(contracts.c.id, selected))
        return list(self._connection.execute(query).scalars())

    def contract_facts(self, contract_ids: Sequence[str], *, lock: bool) -> dict[str, tuple[ContractStatus, dict[str, str]]]:
        """Status and items (item id -> charge plan) of each existing contract among ``contract_ids``; locked in id order."""
        # Two queries, each walking a primary key; a join lets PostgreSQL pick a scan of every contract item.
        query = (
            sa.select(contracts.c.id, contracts.c.status)
            .where(self._among(contracts.c.id, sorted(set(contract_ids))))
            .order_by(contracts.c.id)
        )
        if lock:
            query = query.with_for_update()
        found: dict[str, tuple[ContractStatus, dict[str, str]]] = {
            row.id: (ContractStatus(row.status), {}) for row in self._connection.execute(query)
        }
        items = sa.select(contract_items.c.contract_id, contract_items.c.item_id, contract_items.c.charge_plan).where(
            self._among(contract_items.c.contract_id, list(found))
        )
        for row in self._connection.execute(items):
            found[row.contract_id][1][row.item_id] = row.charge_plan
        return found

    def snapshot_rows(self, contract_ids: Sequence[str]) -> list[dict[str, Any]]:
        query = (
            sa.select(contracts.c.id, contracts.c.last_snapshot_date, contracts.c.snapshot_days)
            .where(self._among(contracts.c.id, contract_ids))
            .order_by(contracts.c.id)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def counter_rows(self, contract_ids: Sequence[str]) -> list[dict[str, Any]]:
        query = (
            sa.select(counters)
            .where(self._among(counters.c.contract_id, contract_ids))
            .order_by(counters.c.contract_id, counters.c.item_id, counters.c.name)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def activation_rows(self, contract_ids: Sequence[str]) -> list[dict[str, Any]]:
        query = (
            sa.select(activations)
            .where(self._among(activations.c.contract_id, contract_ids))
            .order_by(activations.c.contract_id, activations.c.id)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def replace(
        self, snapshots: Sequence[dict[str, Any]], counter_rows: Sequence[dict[str, Any]], activation_rows: Sequence[dict[str, Any]]
    ) -> None:
        """Replace the counters, activations and snapshot fields of the contracts in ``snapshots`` by the rows given.

        On PostgreSQL every row goes through ``COPY`` (see :meth:`_replace_by_copy`); elsewhere
        through ``executemany``.
        """
        contract_ids = [snapshot["contract_id"] for snapshot in snapshots]
        if not contract_ids:
            return
        if self._connection.dialect.name == "postgresql":
            self._replace_by_copy(snapshots, counter_rows, activation_rows)
            return
        self._connection.execute(sa.delete(counters).where(counters.c.contract_id.in_(contract_ids)))
        self._connection.execute(sa.delete(activations).where(activations.c.contract_id.in_(contract_ids)))
        if counter_rows:
            self._connection.execute(sa.insert(counters), list(counter_rows))
        if activation_rows:
            self._connection.execute(sa.insert(activations), list(activation_rows))
        update = (
            sa.update(contracts)
            .where(contracts.c.id == sa.bindparam("contract_id"))
            .values(last_snapshot_date=sa.bindparam("last_snapshot_date"), snapshot_days=sa.bindparam("snapshot_days"))
        )
        self._connection.execute(update, list(snapshots))

    def _replace_by_copy(
        self, snapshots: Sequence[dict[str, Any]], counter_rows: Sequence[dict[str, Any]], activation_rows: Sequence[dict[str, Any]]
    ) -> None:
        """PostgreSQL: the batch's snapshot rows are copied into a temporary table that drives the deletes
        and the update by joins; new counters and activations are copied straight into their tables.
        Everything runs on the unit of work's connection, inside its transaction."""
        driver = self._connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            cursor.execute(_CREATE_BATCH_TABLE)
            cursor.execute("TRUNCATE kopek_restore_batch")
            with cursor.copy("COPY kopek_restore_batch (contract_id, last_snapshot_date, snapshot_days) FROM STDIN") as copy:
                for row in snapshots:
                    copy.write_row((row["contract_id"], row["last_snapshot_date"], row["snapshot_days"]))
            cursor.execute(_DELETE_COUNTERS)
            cursor.execute(_DELETE_ACTIVATIONS)
            if counter_rows:
                with cursor.copy("COPY counters (contract_id, item_id, name, unit, value) FROM STDIN") as copy:
                    for row in counter_rows:
                        copy.write_row((row["contract_id"], row["item_id"], row["name"], row["unit"], row["value"]))
            if activation_rows:
                with cursor.copy("COPY activations (contract_id, id, item_id, kind, status, last_activation_date) FROM STDIN") as copy:
                    for row in activation_rows:
                        copy.write_row(
                            (row["contract_id"], row["id"], row["item_id"], row["kind"], row["status"], row["last_activation_date"])
                        )
            cursor.execute(_UPDATE_SNAPSHOTS)

    def _among(self, column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
        """``column IN values``; on PostgreSQL one array parameter instead of one parameter per value."""
        if self._connection.dialect.name == "postgresql":
            return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(sa.String)))
        return column.in_(list(values))

    def set_status(self, contract_ids: Sequence[str] | None, *, before: Sequence[ContractStatus], after: ContractStatus) -> int:
        """Move the contracts (all when ``contract_ids`` is None) whose status is in ``before`` to ``after``; returns how many moved."""
        statement = sa.update(contracts).where(contracts.c.status.in_([status.value for status in before])).values(status=after.value)
        if contract_ids is not None:
            statement = statement.where(self._among(contracts.c.id, contract_ids))
        return self._connection.execute(statement).rowcount


# ANY(ARRAY(SELECT ...)) rather than a join: the planner then walks the primary key indexes for the
# batch's contracts instead of scanning whole tables, so a batch costs the same at the millionth contract.
_DELETE_COUNTERS = "DELETE FROM counters WHERE contract_id = ANY(ARRAY(SELECT contract_id FROM kopek_restore_batch))"
_DELETE_ACTIVATIONS = "DELETE FROM activations WHERE contract_id = ANY(ARRAY(SELECT contract_id FROM kopek_restore_batch))"
_UPDATE_SNAPSHOTS = (
    "UPDATE contracts SET last_snapshot_date = batch.last_snapshot_date, snapshot_days = batch.snapshot_days"
    " FROM kopek_restore_batch AS batch"
    " WHERE contracts.id = batch.contract_id AND contracts.id = ANY(ARRAY(SELECT contract_id FROM kopek_restore_batch))"
)
_CREATE_BATCH_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS kopek_restore_batch"
    " (contract_id varchar(128) PRIMARY KEY, last_snapshot_date timestamptz, snapshot_days integer) ON COMMIT DROP"
)

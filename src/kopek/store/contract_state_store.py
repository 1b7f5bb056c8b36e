"""Reading and replacing contract states (counters, activations and their counters, snapshot fields)
a page of contracts at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from kopek.domain.master import ContractStatus
from kopek.money import Exact, exact_text
from kopek.store.bulk import driver_cursor
from kopek.store.schema import activation_counters, activations, contract_items, contracts, counters, shared_counters

_KEYS_PER_READ = 500
"""Pools read by one statement (a pair of parameters each)."""

SnapshotRow = tuple[str, datetime | None, int | None]
"""contract_id, last_snapshot_date, snapshot_days."""
CounterRow = tuple[str, str, str, str, Exact, datetime | None, datetime | None]
"""contract_id, item_id ('' for contract scope) or activation_id, name, unit, value (exact), period_start, expires_at."""
ActivationRow = tuple[str, str, str, str, str, datetime | None]
"""contract_id, id, item_id, kind, status, last_activation_date."""
PoolRow = tuple[str, str, str, Exact, datetime | None, datetime | None]
"""namespace, name, unit, value, period_start, expires_at: a counter of scope ``shared``."""

_SNAPSHOT_COLUMNS = ("contract_id", "last_snapshot_date", "snapshot_days")
_COUNTER_COLUMNS = ("contract_id", "item_id", "name", "unit", "value", "period_start", "expires_at")
_ACTIVATION_COLUMNS = ("contract_id", "id", "item_id", "kind", "status", "last_activation_date")
_ACTIVATION_COUNTER_COLUMNS = ("contract_id", "activation_id", "name", "unit", "value", "period_start", "expires_at")
_POOL_COLUMNS = ("namespace", "name", "unit", "value", "period_start", "expires_at")

ContractFactRows = dict[str, tuple[ContractStatus, dict[str, str]]]


@dataclass
class ContractStateRows:
    """The rows that replace what is stored of a set of contracts, as tuples in the column order above."""

    snapshots: list[SnapshotRow] = field(default_factory=list)
    counters: list[CounterRow] = field(default_factory=list)
    activations: list[ActivationRow] = field(default_factory=list)
    activation_counters: list[CounterRow] = field(default_factory=list)
    pools: list[PoolRow] = field(default_factory=list)
    """Counters of scope ``shared`` the states carry: each replaces the stored value of its namespace and name."""


class ContractStateStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        # The contracts of the batch last locked, and whether they held no counter and no activation
        # then: a replace skips the deletes for those (the lock keeps them so), which is every
        # contract of a first restore onto a fresh database. One batch at a time: memory stays flat.
        self._row_free: dict[str, bool] = {}

    def contract_ids(self, *, after: str, limit: int, selected: Sequence[str] | None = None) -> list[str]:
        """The next ``limit`` contract ids after ``after`` in id order, among ``selected`` when given."""
        query = sa.select(contracts.c.id).where(contracts.c.id > after).order_by(contracts.c.id).limit(limit)
        if selected is not None:
            query = query.where(self._among(contracts.c.id, selected))
        return list(self._connection.execute(query).scalars())

    def contract_facts(self, contract_ids: Sequence[str], *, lock: bool) -> ContractFactRows:
        """Status and items (item id -> charge plan) of each existing contract among ``contract_ids``; locked in id order.

        The lock is ``FOR NO KEY UPDATE``: it excludes charging, the migration lock and other
        restores, yet lets the foreign key checks of the counters written next share the row.
        """
        wanted = sorted(set(contract_ids))
        if self._connection.dialect.name == "postgresql":
            return self._contract_facts_postgresql(wanted, lock=lock)
        # Two queries, each walking a primary key; a join lets PostgreSQL pick a scan of every contract item.
        query = sa.select(contracts.c.id, contracts.c.status).where(self._among(contracts.c.id, wanted)).order_by(contracts.c.id)
        if lock:
            query = query.with_for_update(key_share=True)
        found: ContractFactRows = {row.id: (ContractStatus(row.status), {}) for row in self._connection.execute(query)}
        items = sa.select(contract_items.c.contract_id, contract_items.c.item_id, contract_items.c.charge_plan).where(
            self._among(contract_items.c.contract_id, list(found))
        )
        for row in self._connection.execute(items):
            found[row.contract_id][1][row.item_id] = row.charge_plan
        return found

    def _contract_facts_postgresql(self, wanted: list[str], *, lock: bool) -> ContractFactRows:
        # One query on the driver: a batch reads thousands of rows, and building SQLAlchemy rows
        # for each would cost more than the query itself.
        found: ContractFactRows = {}
        if lock:
            self._row_free = {}  # only the batch being locked is about to be written
        with driver_cursor(self._connection, _CONTRACT_FACTS) as cursor:
            cursor.execute(_PLAN_BY_KEY, prepare=False)
            cursor.execute(_CONTRACT_FACTS_LOCKED if lock else _CONTRACT_FACTS, (_array_literal(wanted),), prepare=False)
            for contract_id, status, holds_rows, item_id, charge_plan in cursor.fetchall():
                facts = found.get(contract_id)
                if facts is None:
                    facts = found[contract_id] = (ContractStatus(status), {})
                    if lock:
                        self._row_free[contract_id] = not holds_rows
                if item_id is not None:
                    facts[1][item_id] = charge_plan
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

    def shared_counter_rows(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The stored values of the counters of scope ``shared`` named by ``keys`` (namespace, name), in key order."""
        if not keys:
            return []
        rows = []
        for start in range(0, len(keys), _KEYS_PER_READ):
            wanted = sa.tuple_(shared_counters.c.namespace, shared_counters.c.name).in_(list(keys[start : start + _KEYS_PER_READ]))
            rows += [dict(row) for row in self._connection.execute(sa.select(shared_counters).where(wanted)).mappings()]
        return sorted(rows, key=lambda row: (row["namespace"], row["name"]))

    def activation_counter_rows(self, contract_ids: Sequence[str]) -> list[dict[str, Any]]:
        query = (
            sa.select(activation_counters)
            .where(self._among(activation_counters.c.contract_id, contract_ids))
            .order_by(activation_counters.c.contract_id, activation_counters.c.activation_id, activation_counters.c.name)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def replace(self, rows: ContractStateRows) -> None:
        """Replace the counters, activations (with their counters) and snapshot fields of the contracts
        of ``rows.snapshots`` by the rows given; the caller holds the contracts' locks.

        On PostgreSQL new rows go through ``COPY`` (see :meth:`_replace_postgresql`); elsewhere
        through ``executemany``.
        """
        contract_ids = [snapshot[0] for snapshot in rows.snapshots]
        if not contract_ids:
            return
        self._replace_pools(rows.pools)
        if self._connection.dialect.name == "postgresql":
            self._replace_postgresql(contract_ids, rows)
            return
        for table, column in ((activation_counters, "contract_id"), (counters, "contract_id"), (activations, "contract_id")):
            self._connection.execute(sa.delete(table).where(table.c[column].in_(contract_ids)))
        for table, columns, values in (
            (counters, _COUNTER_COLUMNS, rows.counters),
            (activations, _ACTIVATION_COLUMNS, rows.activations),
            (activation_counters, _ACTIVATION_COUNTER_COLUMNS, rows.activation_counters),
        ):
            if values:
                self._connection.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in values])
        update = (
            sa.update(contracts)
            .where(contracts.c.id == sa.bindparam("contract_id"))
            .values(last_snapshot_date=sa.bindparam("last_snapshot_date"), snapshot_days=sa.bindparam("snapshot_days"))
        )
        self._connection.execute(update, [dict(zip(_SNAPSHOT_COLUMNS, row, strict=True)) for row in rows.snapshots])

    def _replace_pools(self, pools: Sequence[PoolRow]) -> None:
        """Replace the stored values of the pools given (a pool several states carry comes once, their values agreeing)."""
        unique = {(row[0], row[1]): row for row in pools}
        if not unique:
            return
        keys = sorted(unique)
        for start in range(0, len(keys), _KEYS_PER_READ):
            chosen = sa.tuple_(shared_counters.c.namespace, shared_counters.c.name).in_(keys[start : start + _KEYS_PER_READ])
            self._connection.execute(sa.delete(shared_counters).where(chosen))
        self._connection.execute(sa.insert(shared_counters), [dict(zip(_POOL_COLUMNS, unique[key], strict=True)) for key in keys])

    def _replace_postgresql(self, contract_ids: list[str], rows: ContractStateRows) -> None:
        """PostgreSQL: one statement deletes the stored rows and updates the snapshot fields of the
        batch's contracts; new rows are then copied straight into their tables. All on the unit of
        work's connection, inside its transaction."""
        ids = _array_literal(contract_ids)
        # Once written, a contract holds rows: forget it (a second write deletes first).
        holding = [contract_id for contract_id in contract_ids if not self._row_free.pop(contract_id, False)]
        dates = _array_literal([None if snapshot[1] is None else snapshot[1].isoformat() for snapshot in rows.snapshots])
        days = _array_literal([None if snapshot[2] is None else str(snapshot[2]) for snapshot in rows.snapshots])
        with driver_cursor(self._connection, _CLEAR_AND_UPDATE_SNAPSHOTS) as cursor:
            cursor.execute(_PLAN_BY_KEY, prepare=False)
            parameters = {"ids": ids, "holding": _array_literal(holding), "dates": dates, "days": days}
            cursor.execute(_CLEAR_AND_UPDATE_SNAPSHOTS, parameters, prepare=False)
            for table, columns, values in (
                ("counters", _COUNTER_COLUMNS, _valued(rows.counters)),
                ("activations", _ACTIVATION_COLUMNS, rows.activations),
                ("activation_counters", _ACTIVATION_COUNTER_COLUMNS, _valued(rows.activation_counters)),
            ):
                if values:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)

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


# The batch's ids travel as one array parameter, joined to the table (the planner then walks the
# primary key for each id however large the table; an IN list of a thousand ids makes it scan the
# whole table instead). Statements are sent unprepared, so each is planned for its own batch.
_CONTRACT_FACTS_QUERY = (
    "SELECT contract.id, contract.status, contract.holds_rows, item.item_id, item.charge_plan"
    " FROM unnest(%s::varchar[]) AS batch (contract_id)"
    " JOIN LATERAL (SELECT id, status,"
    " EXISTS (SELECT FROM counters WHERE counters.contract_id = contracts.id)"
    " OR EXISTS (SELECT FROM activations WHERE activations.contract_id = contracts.id) AS holds_rows"
    " FROM contracts WHERE contracts.id = batch.contract_id {lock}) AS contract ON true"
    " LEFT JOIN LATERAL (SELECT item_id, charge_plan FROM contract_items WHERE contract_items.contract_id = contract.id OFFSET 0)"
    " AS item ON true"
)
# Lateral subqueries, kept apart (a lock or OFFSET 0 stops the planner from flattening them), look each
# contract and its items up by primary key, in the order of the ids (sorted: locks are taken in one
# order). Joined plainly, the planner may choose to scan every contract or item once tables are large.
_CONTRACT_FACTS = _CONTRACT_FACTS_QUERY.format(lock="OFFSET 0")
_CONTRACT_FACTS_LOCKED = _CONTRACT_FACTS_QUERY.format(lock="FOR NO KEY UPDATE")
# Every lookup of a restore goes by primary key, in pages the batch just read: the planner is told
# random reads cost about what sequential ones do, or it scans a whole table of a hundred thousand
# contracts rather than look a thousand up (for this transaction only).
_PLAN_BY_KEY = "SET LOCAL random_page_cost = 1.1"
# Deletes take the ids as a constant array instead: on a table still small, such as the counters of
# a fresh target, the planner's scan then filters through a hash of the ids. The three deletes and
# the update run as one statement (one round trip); the foreign key of activation counters is
# checked at its end, when both sides are gone.
_CLEAR_AND_UPDATE_SNAPSHOTS = (
    "WITH cleared_activation_counters AS (DELETE FROM activation_counters WHERE contract_id = ANY(%(holding)s::varchar[])),"
    " cleared_counters AS (DELETE FROM counters WHERE contract_id = ANY(%(holding)s::varchar[])),"
    " cleared_activations AS (DELETE FROM activations WHERE contract_id = ANY(%(holding)s::varchar[]))"
    " UPDATE contracts SET last_snapshot_date = batch.last_snapshot_date, snapshot_days = batch.snapshot_days"
    " FROM unnest(%(ids)s::varchar[], %(dates)s::timestamptz[], %(days)s::integer[])"
    " AS batch (contract_id, last_snapshot_date, snapshot_days)"
    # The constant list of ids as well: whatever join it picks, the planner reads only the batch's contracts.
    " WHERE contracts.id = batch.contract_id AND contracts.id = ANY(%(ids)s::varchar[])"
)


def _valued(rows: Sequence[CounterRow]) -> list[tuple[object, ...]]:
    """Counter rows as ``COPY`` writes them: the value as its exact text, as the column stores it."""
    return [(*row[:4], exact_text(row[4]), *row[5:]) for row in rows]


def _array_literal(values: Sequence[str | None]) -> str:
    """``values`` as the text of a PostgreSQL array, each element quoted (``None`` as NULL).

    Sent as one text parameter and cast in the statement: the driver's own list adaptation
    walks the values in Python, element by element, and cost more than the statements it fed.
    """
    quoted = ("NULL" if value is None else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"

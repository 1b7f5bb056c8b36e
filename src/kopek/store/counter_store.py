"""Counter values in their three homes: contract counters (``counters``), activation
counters (``activation_counters``) and shared counters (``shared_counters``).

Each value keeps the start of its reset period and its expiry, so rating can reset
it lazily at the next item. Transient counters are never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from kopek.domain.catalog import CounterScope
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.domain.units import Unit
from kopek.money import Exact
from kopek.rating.state import CounterLife
from kopek.store.bulk import insert_many, update_many
from kopek.store.schema import activation_counters, activations, counters, shared_counters

CounterValues = tuple[dict[CounterKey, Exact], dict[CounterKey, CounterLife]]
"""Counter values (exact, each in its counter's unit) and their periods, by key."""


@dataclass(frozen=True, slots=True)
class SharedCounterSpec:
    """A shared counter to lock before rating: its namespace, name, unit and initial value."""

    namespace: str
    name: str
    unit: Unit
    initial: Decimal


class CounterStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def of_contract(self, contract_id: str, *, contract_scope_only: bool = False) -> CounterValues:
        """The stored counters of a contract and of its activations (only its contract-scope ones if asked)."""
        values: dict[CounterKey, Exact] = {}
        lives: dict[CounterKey, CounterLife] = {}
        for key, _, value, life in self.listing(contract_id, contract_scope_only=contract_scope_only):
            values[key], lives[key] = value, life
        return values, lives

    def of_contracts(self, contract_ids: Sequence[str]) -> CounterValues:
        """The stored contract and contract-item counters of several contracts (not their activations'), one statement."""
        values: dict[CounterKey, Exact] = {}
        lives: dict[CounterKey, CounterLife] = {}
        for row in self._connection.execute(sa.select(counters).where(counters.c.contract_id.in_(list(contract_ids)))).mappings():
            key = CounterKey(row["contract_id"], row["item_id"], row["name"])
            values[key], lives[key] = row["value"], CounterLife(row["period_start"], row["expires_at"])
        return values, lives

    def listing(self, contract_id: str, *, contract_scope_only: bool = False) -> list[tuple[CounterKey, str, Exact, CounterLife]]:
        """Every stored counter of a contract and its activations, with its unit, in key order."""
        found = []
        query = sa.select(counters).where(counters.c.contract_id == contract_id)
        if contract_scope_only:
            query = query.where(counters.c.item_id == "")
        for row in self._connection.execute(query).mappings():
            key = CounterKey(row["contract_id"], row["item_id"], row["name"])
            found.append((key, row["unit"], row["value"], CounterLife(row["period_start"], row["expires_at"])))
        if not contract_scope_only:
            query = sa.select(activation_counters).where(activation_counters.c.contract_id == contract_id)
            for row in self._connection.execute(query).mappings():
                key = CounterKey(row["contract_id"], row["activation_id"], row["name"], CounterScope.ACTIVATION)
                found.append((key, row["unit"], row["value"], CounterLife(row["period_start"], row["expires_at"])))
        return sorted(found, key=lambda entry: entry[0])

    def lock_shared(self, specs: Sequence[SharedCounterSpec]) -> CounterValues:
        """The shared counters ``specs`` name, each row created if missing, then locked in one order.

        Creating a missing row first (insert, ignoring a conflict) gives every writer a row to
        lock, so two contracts that share a counter never both start from its initial value.
        """
        values: dict[CounterKey, Exact] = {}
        lives: dict[CounterKey, CounterLife] = {}
        for spec in sorted(specs, key=lambda spec: (spec.namespace, spec.name)):
            row = {"namespace": spec.namespace, "name": spec.name, "unit": spec.unit.value, "value": spec.initial}
            self._connection.execute(self._insert_ignoring_conflict(shared_counters, row))
            query = (
                sa.select(shared_counters)
                .where(shared_counters.c.namespace == spec.namespace, shared_counters.c.name == spec.name)
                .with_for_update()
            )
            found = self._connection.execute(query).mappings().one()
            key = CounterKey("", "", spec.name, CounterScope.SHARED, spec.namespace)
            values[key], lives[key] = found["value"], CounterLife(found["period_start"], found["expires_at"])
        return values, lives

    def write(self, changes: Iterable[CounterChange]) -> None:
        """Store new counter values; the caller holds the locks of the contracts and shared counters concerned."""
        own = []
        for change in changes:
            scope = change.key.scope
            if scope is CounterScope.TRANSIENT:
                continue
            if scope in (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM):
                own.append(change)
            elif scope is CounterScope.SHARED:
                self._upsert(shared_counters, {"namespace": change.key.namespace, "name": change.key.name}, change)
            elif scope is CounterScope.ACTIVATION:
                self.ensure_activation(change.key.contract_id, change.key.item_id)
                where = {"contract_id": change.key.contract_id, "activation_id": change.key.item_id, "name": change.key.name}
                self._upsert(activation_counters, where, change)
        self._write_own(own)

    def delete(self, keys: Iterable[CounterKey]) -> None:
        """Remove the stored values of ``keys`` (contract, contract item and activation scopes): they hold their initial
        value again (a recharge back to before a counter's first change)."""
        for key in keys:
            if key.scope is CounterScope.ACTIVATION:
                table, where = activation_counters, [activation_counters.c.activation_id == key.item_id]
            else:
                table, where = counters, [counters.c.item_id == key.item_id]
            self._connection.execute(sa.delete(table).where(table.c.contract_id == key.contract_id, table.c.name == key.name, *where))

    def _write_own(self, changes: Sequence[CounterChange]) -> None:
        """Contract and contract-item counters: the stored ones updated, the new ones inserted, a statement each."""
        if not changes:
            return
        contract_ids = sorted({change.key.contract_id for change in changes})
        query = sa.select(counters.c.contract_id, counters.c.item_id, counters.c.name).where(counters.c.contract_id.in_(contract_ids))
        stored = {tuple(row) for row in self._connection.execute(query)}
        rows = [
            {
                "contract_id": change.key.contract_id,
                "item_id": change.key.item_id,
                "name": change.key.name,
                "unit": change.unit.value,
                "value": change.after,
                "period_start": change.period_start,
                "expires_at": change.expires_at,
            }
            for change in changes
        ]
        existing = [row for row in rows if (row["contract_id"], row["item_id"], row["name"]) in stored]
        update_many(self._connection, counters, ("contract_id", "item_id", "name"), existing, ("value", "period_start", "expires_at"))
        insert_many(self._connection, counters, [row for row in rows if (row["contract_id"], row["item_id"], row["name"]) not in stored])

    def ensure_activation(self, contract_id: str, activation_id: str) -> None:
        """The charge activation of a contract item (its id is the item's id), created active if missing."""
        row = {"contract_id": contract_id, "id": activation_id, "item_id": activation_id, "kind": "charge", "status": "active"}
        self._connection.execute(self._insert_ignoring_conflict(activations, row))

    def _upsert(self, table: sa.Table, key: dict[str, str], change: CounterChange) -> None:
        values = {"value": change.after, "period_start": change.period_start, "expires_at": change.expires_at}
        where = [table.c[column] == value for column, value in key.items()]
        updated = self._connection.execute(sa.update(table).where(*where).values(**values))
        if updated.rowcount == 0:
            self._connection.execute(sa.insert(table).values(**key, unit=change.unit.value, **values))

    def _insert_ignoring_conflict(self, table: sa.Table, row: Mapping[str, object]) -> sa.Executable:
        if self._connection.dialect.name == "postgresql":
            return postgresql.insert(table).values(**row).on_conflict_do_nothing()
        return sqlite.insert(table).values(**row).on_conflict_do_nothing()

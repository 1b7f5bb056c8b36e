"""The counter journal: the stored value of each contract counter before each charging operation changed it.

A restoration point (docs/recharging.md) is rebuilt from it: the state of a contract just
before a given entry is, for each counter, the value recorded by the first entry at or
after it that names the counter, and the stored value for the counters none names.
Counters of scope ``shared`` are not journaled (a recharge refuses contracts whose plans
use them); transient counters are never stored.

Entries of one contract are written under the contract's lock, so their ids are in the
order of the changes on both databases.

Entries older than the retention window of restoration points are pruned
(:meth:`CounterJournalStore.prune`, which prunes the activation journal too): the journal keeps one ``pruned`` row (contract id ``""``)
whose date is the **horizon**, before which entries may be gone. A restoration point refuses to
charge again an operation made before the horizon (its entries may be missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.domain.catalog import CounterScope
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact
from kopek.rating.state import CounterLife
from kopek.store.bulk import insert_many
from kopek.store.key_locks import KeySpace, serialise_key
from kopek.store.schema import activation_counters, activation_journal, counter_journal, counters

CHANGE = "change"
MARK = "mark"
PRUNED = "pruned"
_HORIZON_CONTRACT = ""
_COPY_MARKS = "COPY counter_journal (contract_id, kind, scope, item_id, name, unit, present, recorded_at) FROM STDIN"
JOURNALED_SCOPES = (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM, CounterScope.ACTIVATION)


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A counter row as stored: its unit, exact value and life; ``None`` in its place means no row."""

    unit: str
    value: Exact
    life: CounterLife


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    operation_id: str | None
    kind: str
    key: CounterKey
    unit: str
    before: StoredValue | None


def journaled(change: CounterChange) -> bool:
    return change.key.scope in JOURNALED_SCOPES


class CounterJournalStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def record(self, changes: Sequence[tuple[str, datetime, CounterChange]]) -> None:
        """Journal ``(operation id, when, change)`` in the order they were made, each with the row it replaced; call it
        before the changes are stored (the first change of each counter reads its row)."""
        wanted = [change for _, _, change in changes if journaled(change)]
        if not wanted:
            return
        insert_many(self._connection, counter_journal, journal_rows(changes, self.stored({change.key for change in wanted})))

    def record_rows(self, rows: Iterable[tuple[str | None, datetime, CounterKey, str, StoredValue | None]]) -> None:
        """Journal entries given with the rows they replaced (a recharge knows them: it computed every state)."""
        insert_many(self._connection, counter_journal, [_change_row(*row) for row in rows])

    def mark(self, contract_ids: Iterable[str], *, at: datetime) -> None:
        """Mark that these contracts' counters were replaced wholesale: no restoration point reaches back past it."""
        contract_ids = list(contract_ids)
        if self._connection.dialect.name == "postgresql" and contract_ids:
            # A restore marks thousands of contracts at once: copied, as the restore copies the counters it writes.
            driver = self._connection.connection.driver_connection
            assert driver is not None, "an open connection has a driver connection"
            with driver.cursor() as cursor, cursor.copy(_COPY_MARKS) as copy:
                for contract_id in contract_ids:
                    copy.write_row((contract_id, MARK, "", "", "", "", False, at))
            return
        rows = [
            {"contract_id": contract_id, "operation_id": None, "kind": MARK, "scope": "", "item_id": "", "name": "", "unit": "",
             "present": False, "value": None, "period_start": None, "expires_at": None, "recorded_at": at}
            for contract_id in contract_ids
        ]  # fmt: skip
        insert_many(self._connection, counter_journal, rows)

    def stored(self, keys: Iterable[CounterKey]) -> dict[CounterKey, StoredValue | None]:
        """The stored rows of ``keys`` (none where there is no row)."""
        keys = list(keys)
        found: dict[CounterKey, StoredValue | None] = dict.fromkeys(keys)
        own = sorted({key.contract_id for key in keys if key.scope is not CounterScope.ACTIVATION})
        if own:
            for row in self._connection.execute(sa.select(counters).where(counters.c.contract_id.in_(own))).mappings():
                key = CounterKey(row["contract_id"], row["item_id"], row["name"])
                if key in found:
                    found[key] = _stored(row)
        held = sorted({key.contract_id for key in keys if key.scope is CounterScope.ACTIVATION})
        if held:
            query = sa.select(activation_counters).where(activation_counters.c.contract_id.in_(held))
            for row in self._connection.execute(query).mappings():
                key = CounterKey(row["contract_id"], row["activation_id"], row["name"], CounterScope.ACTIVATION)
                if key in found:
                    found[key] = _stored(row)
        return found

    def entries(self, contract_id: str, *, from_id: int = 0) -> list[JournalEntry]:
        """The contract's entries with an id of ``from_id`` or more, in order."""
        query = (
            sa.select(counter_journal)
            .where(counter_journal.c.contract_id == contract_id, counter_journal.c.id >= from_id)
            .order_by(counter_journal.c.id)
        )
        return [_entry(row) for row in self._connection.execute(query).mappings()]

    def last_mark(self, contract_id: str) -> datetime | None:
        """When the contract's counters were last replaced wholesale (none: never, since it was created)."""
        query = (
            sa.select(counter_journal.c.recorded_at)
            .where(counter_journal.c.contract_id == contract_id, counter_journal.c.kind == MARK)
            .order_by(counter_journal.c.id.desc())
            .limit(1)
        )
        found: datetime | None = self._connection.execute(query).scalar_one_or_none()
        return found

    def first_id_of(self, operation_ids: Sequence[str]) -> int | None:
        """The first entry of any of these operations (none when they changed no journaled counter)."""
        found: int | None = None
        for start in range(0, len(operation_ids), 500):
            chunk = list(operation_ids[start : start + 500])
            query = sa.select(sa.func.min(counter_journal.c.id)).where(counter_journal.c.operation_id.in_(chunk))
            first = self._connection.execute(query).scalar_one_or_none()
            if first is not None and (found is None or first < found):
                found = int(first)
        return found

    def horizon(self) -> datetime | None:
        """The date before which entries may have been pruned (none: nothing was ever pruned)."""
        query = sa.select(sa.func.max(counter_journal.c.recorded_at)).where(
            counter_journal.c.contract_id == _HORIZON_CONTRACT, counter_journal.c.kind == PRUNED
        )
        found: datetime | None = self._connection.execute(query).scalar_one_or_none()
        return found

    def prune(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest entries recorded before ``before`` (changes and marks) and raise the horizon
        to ``before``; how many were deleted. The horizon is raised first, in the same transaction, so no restoration
        point ever relies on an entry this deletes. Passes run one after the other (two servers' clean-up loops would
        otherwise delete the same rows in different orders)."""
        serialise_key(self._connection, KeySpace.MAINTENANCE, counter_journal.name)
        self._raise_horizon(before)
        oldest = (
            sa.select(counter_journal.c.id)
            .where(counter_journal.c.recorded_at < before, counter_journal.c.kind != PRUNED)
            .order_by(counter_journal.c.recorded_at, counter_journal.c.id)
            .limit(limit)
        )
        ids = [int(found) for found in self._connection.execute(oldest).scalars()]
        for start in range(0, len(ids), 500):
            self._connection.execute(sa.delete(counter_journal).where(counter_journal.c.id.in_(ids[start : start + 500])))
        return len(ids) + self._prune_activations(before, limit=limit - len(ids))

    def _prune_activations(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest activation journal entries recorded before ``before``."""
        if limit <= 0:
            return 0
        oldest = (
            sa.select(activation_journal.c.id)
            .where(activation_journal.c.recorded_at < before)
            .order_by(activation_journal.c.recorded_at, activation_journal.c.id)
            .limit(limit)
        )
        ids = [int(found) for found in self._connection.execute(oldest).scalars()]
        for start in range(0, len(ids), 500):
            self._connection.execute(sa.delete(activation_journal).where(activation_journal.c.id.in_(ids[start : start + 500])))
        return len(ids)

    def _raise_horizon(self, before: datetime) -> None:
        current = self.horizon()
        if current is not None and current >= before:
            return
        if current is None:
            row = {
                "contract_id": _HORIZON_CONTRACT, "operation_id": None, "kind": PRUNED, "scope": "", "item_id": "", "name": "",
                "unit": "", "present": False, "value": None, "period_start": None, "expires_at": None, "recorded_at": before,
            }  # fmt: skip
            self._connection.execute(sa.insert(counter_journal).values(**row))
            return
        self._connection.execute(
            sa.update(counter_journal)
            .where(counter_journal.c.contract_id == _HORIZON_CONTRACT, counter_journal.c.kind == PRUNED)
            .values(recorded_at=before)
        )

    def forget(self, operation_ids: Sequence[str]) -> None:
        """Remove the entries of these operations (a recharge journals them again, in their new order)."""
        for start in range(0, len(operation_ids), 500):
            chunk = list(operation_ids[start : start + 500])
            self._connection.execute(sa.delete(counter_journal).where(counter_journal.c.operation_id.in_(chunk)))


def _stored(row: Any) -> StoredValue:
    return StoredValue(row["unit"], row["value"], CounterLife(row["period_start"], row["expires_at"]))


def journal_rows(
    changes: Sequence[tuple[str, datetime, CounterChange]], stored: Mapping[CounterKey, StoredValue | None]
) -> list[dict[str, Any]]:
    """The journal's rows (values as the domain holds them) for ``(operation id, when, change)`` made in this order,
    each with the row it replaced: ``stored`` (what was read) for a counter's first change, then its change before."""
    current = dict(stored)
    rows = []
    for operation_id, at, change in changes:
        if not journaled(change):
            continue
        rows.append(_change_row(operation_id, at, change.key, change.unit.value, current.get(change.key)))
        current[change.key] = StoredValue(change.unit.value, change.after, CounterLife(change.period_start, change.expires_at))
    return rows


def _change_row(operation_id: str | None, at: datetime, key: CounterKey, unit: str, before: StoredValue | None) -> dict[str, Any]:
    return {
        "contract_id": key.contract_id,
        "operation_id": operation_id,
        "kind": CHANGE,
        "scope": key.scope.value,
        "item_id": key.item_id,
        "name": key.name,
        "unit": unit,
        "present": before is not None,
        "value": before.value if before is not None else None,
        "period_start": before.life.period_start if before is not None else None,
        "expires_at": before.life.expires_at if before is not None else None,
        "recorded_at": at,
    }


def _entry(row: Any) -> JournalEntry:
    key = CounterKey(row["contract_id"], row["item_id"], row["name"], CounterScope(row["scope"])) if row["kind"] == CHANGE else None
    before = _stored(row) if row["present"] else None
    return JournalEntry(row["id"], row["operation_id"], row["kind"], key or CounterKey(row["contract_id"], "", ""), row["unit"], before)

"""The statements of one offline charge, built once: what it reads with its locks, and what it writes.

An offline charge (docs/performance.md, "The durable hot path") reads in one batch of
statements (:class:`kopek.store.driver_batch.DriverBatch`: one round trip on PostgreSQL)
everything it needs, each statement keyed by the item's access (service id, user id,
consumption date) through a subquery rather than by what an earlier one returned:

1. with an idempotency key, its advisory lock (:mod:`kopek.store.key_locks`), then the
   operation already stored under it (the replay check sees whatever committed while it waited);
2. the contract the access selects and its parent, locked in the order single charges
   lock them (a linked contract first);
3. in one statement (the contracts' **parts**): their contract items and role
   assignments, the contract's counters (and its parent's contract counters), its
   activations' counters, and what the live grants of sessions hold of them;
4. every account the contract's roles name (any of them may pay), locked in id order,
   with their subscriber accounts' status, and the live reservations held against them.

Then everything it writes (the operation, charged items, balances, account operations,
the counter journal, counters, notifications, the exported item) goes as a second batch,
and the unit of work commits. While the catalog declares shared counters, charges take
the general path (those counters are locked before the accounts, a statement at a time).
Session steps read their contract's state with the same statements keyed by the session
(:data:`STATE_BY_SESSION`, queued by :mod:`kopek.store.session_store` around the session
row's lock) or by an already locked contract (:data:`STATE_BY_CONTRACT`), and queue their
charge's writes in the batch that writes the session.
"""

# ruff: noqa: S608 - the statement texts are put together from constants once, at import; every value is bound

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from enum import Enum, IntEnum
from typing import Any, NamedTuple

import sqlalchemy as sa

from kopek.domain.catalog import CounterScope
from kopek.domain.master import (
    Account,
    AccountId,
    AccountKind,
    AccountStatus,
    Contract,
    ContractId,
    ContractItem,
    ContractItemId,
    ContractStatus,
    SubscriberAccountId,
    SubscriberAccountStatus,
)
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact, rating_context
from kopek.rating.state import CounterLife
from kopek.store.column_values import bound_rows
from kopek.store.counter_journal_store import StoredValue, journal_rows
from kopek.store.driver_batch import DialectText, DriverBatch, Pending, for_dialect
from kopek.store.key_locks import KeySpace, lock_id
from kopek.store.schema import (
    account_operations,
    accounts,
    activation_counters,
    charged_items,
    charging_operations,
    counter_journal,
    counters,
    exported_items,
    shared_counters,
)
from kopek.store.schema import notifications as notifications_table
from kopek.store.types import DECIMAL, INSTANT, RATIONAL

_Lives = dict[CounterKey, CounterLife]

# ---- what a charge reads --------------------------------------------------------------------------------------------

_ACCESS = (
    "(SELECT contract_id FROM accesses WHERE service_id = :service_id AND user_id = :user_id"
    " AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at) LIMIT 1)"
)
ADVISORY_LOCK = for_dialect("SELECT 1", postgresql="SELECT pg_advisory_xact_lock(:lock_id)")
OPERATION_BY_KEY = for_dialect("SELECT request_hash, result FROM charging_operations WHERE idempotency_key = :idempotency_key")


@dataclass(frozen=True, slots=True)
class StateStatements:
    """The statements that read a contract's charging state, each keyed by the same contract subquery."""

    contracts: DialectText
    """The contract and its parent, locked, the linked contract first."""
    parts: DialectText
    """In one statement (:data:`_PART_COLUMNS`), read once the contracts are locked: their items and role assignments,
    the contract's counters and its parent's contract counters, its activations' counters, and what the live grants
    (but session ``:excluding``'s) hold of those counters."""
    contract_parts: DialectText
    """Only the items and role assignments of the contract and its parent, in the same columns."""
    accounts: DialectText
    """Every account the contract's roles name, locked in id order, with its subscriber account's status."""
    reservations: DialectText
    """The live reservations against those accounts (but session ``:excluding``'s), read once they are locked."""


class _Part(IntEnum):
    """What a row of the ``parts`` statement is: its first column."""

    ITEM = 1
    ROLE = 2
    COUNTER = 3
    ACTIVATION_COUNTER = 4
    HOLD = 5


_PART_COLUMNS = ("part", "ord", "k", "c1", "c2", "c3", "c4", "c5", "c6", "t1", "t2")
"""The columns of the ``parts`` statement: the part, two sort keys (a number, a text), six texts and two instants."""
_PART_NULLS = {"ord": "INTEGER", "t1": "TIMESTAMP WITH TIME ZONE", "t2": "TIMESTAMP WITH TIME ZONE"}
"""The type of a column's null where a part has no value for it (texts otherwise): PostgreSQL types a union's columns."""


def _part(part: _Part, source: str, values: Mapping[str, str], *, postgresql: bool) -> str:
    """One part's ``SELECT``: its ``values`` (expressions by column), nulls in the other columns."""
    columns = [str(int(part)), *(values.get(name) or _null(name, postgresql=postgresql) for name in _PART_COLUMNS[1:])]
    return f"SELECT {', '.join(f'{value} AS {name}' for value, name in zip(columns, _PART_COLUMNS, strict=True))} {source}"


def _null(column: str, *, postgresql: bool) -> str:
    return f"CAST(NULL AS {_PART_NULLS.get(column, 'TEXT')})" if postgresql else "NULL"


def _parent_of(contract: str) -> str:
    """The SQL expression of the parent id of the contract that the SQL expression ``contract`` names."""
    return f"(SELECT parent_id FROM contracts WHERE id = {contract})"


def _parts(contract: str, *, counters: bool) -> DialectText:
    """The ``parts`` statement (``counters`` false: ``contract_parts``), rows in a fixed order: by part, then items by
    position, holds by session and key.

    On PostgreSQL the contract and its parent are found once (``owner``, ``owner_parent``), and every table is read by
    one equality on the contract id per select, the contract's rows and its parent's apart: the planner then looks each
    up by its key, whatever its statistics say (a condition on either id, ``IN`` or ``OR``, let it read small tables
    whole before it had statistics: about 0.1 ms of the server's time per table and charge with a few hundred
    contracts). SQLite looks such conditions up in its indexes: it keeps the plain form."""

    def text(postgresql: bool) -> str:
        if postgresql:
            own, parent = "(SELECT id FROM owner)", "(SELECT id FROM owner_parent)"
            found = f"WITH owner AS (SELECT {contract} AS id), owner_parent AS (SELECT parent_id AS id FROM contracts WHERE id = {own}) "
        else:
            own, parent, found = contract, _parent_of(contract), ""

        def either(source: str, own_rows: str, parent_rows: str, both_rows: str) -> list[str]:
            """The rows of the contract and of its parent: one select each on PostgreSQL, one select (``both_rows``) on
            SQLite."""
            if postgresql:
                return [f"{source} WHERE {own_rows}", f"{source} WHERE {parent_rows}"]
            return [f"{source} WHERE {both_rows}"]

        def by_contract(table: str) -> list[str]:
            return either(f"FROM {table}", f"contract_id = {own}", f"contract_id = {parent}", f"contract_id IN ({own}, {parent})")

        items = {"ord": "position", "c1": "contract_id", "c2": "item_id", "c3": "charge_plan"}
        roles = {"c1": "contract_id", "c2": "role", "c3": "account_id"}
        selects = [
            *((_Part.ITEM, source, items) for source in by_contract("contract_items")),
            *((_Part.ROLE, source, roles) for source in by_contract("contract_roles")),
        ]
        if counters:
            lives = {"c4": "value", "t1": "period_start", "t2": "expires_at"}
            counter_columns = {"c1": "contract_id", "c2": "item_id", "c3": "name", **lives}
            holds = {
                "k": "h.session_id",
                **{column: f"h.{name}" for column, name in zip(("c1", "c2", "c3", "c4", "c5", "c6"), _HOLD_COLUMNS, strict=True)},
                "t1": "h.period_start",
            }
            live = "s.status = 'active' AND h.session_id <> :excluding AND h.namespace = ''"
            own_holds = f"h.scope IN ('contract', 'contract_item', 'activation') AND h.contract_id = {own}"
            parent_holds = f"h.scope = 'contract' AND h.contract_id = {parent}"
            own_counters, parent_counters = f"contract_id = {own}", f"contract_id = {parent} AND item_id = ''"
            selects += [
                *(
                    (_Part.COUNTER, source, counter_columns)
                    for source in either("FROM counters", own_counters, parent_counters, f"{own_counters} OR ({parent_counters})")
                ),
                (
                    _Part.ACTIVATION_COUNTER,
                    f"FROM activation_counters WHERE contract_id = {own}",
                    {"c1": "contract_id", "c2": "activation_id", "c3": "name", **lives},
                ),
                *(
                    (_Part.HOLD, source, holds)
                    for source in either(
                        "FROM session_counter_holds h JOIN charging_sessions s ON s.id = h.session_id",
                        f"{live} AND {own_holds}",
                        f"{live} AND {parent_holds}",
                        f"{live} AND (({own_holds}) OR ({parent_holds}))",
                    )
                ),
            ]
        union = " UNION ALL ".join(_part(part, source, values, postgresql=postgresql) for part, source, values in selects)
        return f"{found}{union} ORDER BY part, ord, k, c1, c2, c3, c4, c5"

    return for_dialect(text(postgresql=False), postgresql=text(postgresql=True))


_HOLD_COLUMNS = ("scope", "namespace", "contract_id", "item_id", "name", "delta")
"""The columns of a hold, as the ``parts`` statement gives them (``c1`` to ``c6``), its period start after them."""


def _state_statements(contract: str) -> StateStatements:
    """The state statements of the contract that the SQL expression ``contract`` names."""
    parent = _parent_of(contract)
    role_accounts = f"(SELECT account_id FROM contract_roles WHERE contract_id = {contract})"
    contracts = (
        "SELECT id, subscriber_account_id, valid_from, valid_to, status, parent_id FROM contracts"
        f" WHERE id = {contract} OR id = {parent} ORDER BY parent_id IS NULL, id"
    )
    accounts = (
        "SELECT a.id, a.subscriber_account_id, a.kind, a.currency, a.balance, a.floor, a.credit_limit, a.low_balance_threshold,"
        " a.status, s.status FROM accounts a JOIN subscriber_accounts s ON s.id = a.subscriber_account_id"
        f" WHERE a.id IN {role_accounts} ORDER BY a.id"
    )
    # On PostgreSQL each of the two is looked up by its key and locked, the linked contract first (a condition on either
    # id let the planner read the table whole before it had statistics).
    locked = (
        f"WITH owner AS (SELECT {contract} AS id)"
        " SELECT c.id, c.subscriber_account_id, c.valid_from, c.valid_to, c.status, c.parent_id FROM"
        " (SELECT 1 AS n, (SELECT id FROM owner) AS id"
        f" UNION ALL SELECT 2, {_parent_of('(SELECT id FROM owner)')}) AS wanted"
        " CROSS JOIN LATERAL (SELECT * FROM contracts WHERE contracts.id = wanted.id FOR UPDATE) AS c ORDER BY wanted.n"
    )
    return StateStatements(
        contracts=for_dialect(contracts, postgresql=locked),
        parts=_parts(contract, counters=True),
        contract_parts=_parts(contract, counters=False),
        accounts=for_dialect(accounts, postgresql=f"{accounts} FOR UPDATE OF a"),
        reservations=for_dialect(
            f"SELECT account_id, amount FROM reservations WHERE account_id IN {role_accounts} AND session_id <> :excluding"
        ),
    )


class StateReads(Enum):
    """How much of a contract's state a caller reads after the contracts: everything (a charge, a grant), all but the
    live reservations (a step that charges but grants nothing), or only the contracts' items and roles (a step that
    only releases)."""

    ALL = "all"
    ALL_BUT_RESERVATIONS = "all_but_reservations"
    CONTRACTS_ONLY = "contracts_only"


STATE_BY_ACCESS = _state_statements(_ACCESS)
"""An offline charge's state: the contract that the access (``:service_id``, ``:user_id`` at ``:at``) selects."""
STATE_BY_CONTRACT = _state_statements("CAST(:contract_id AS VARCHAR)")
"""The state of contract ``:contract_id``, already locked (a session step on the general path, an expiry)."""
STATE_BY_SESSION = _state_statements("(SELECT contract_id FROM charging_sessions WHERE id = :session_id)")
"""A session step's state: the contract of session ``:session_id``, read with the session row in one batch."""

# ---- what a charge writes ---------------------------------------------------------------------------------------------


def _insert(table: str, columns: str) -> DialectText:
    names = [name.strip() for name in columns.split(",")]
    return for_dialect(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + name for name in names)})")


INSERT_OPERATION = _insert("charging_operations", ", ".join(column.name for column in charging_operations.c))
"""Every column of the operation (a column added to the table is written, and a row without it is refused)."""
INSERT_CHARGED_ITEM = _insert(
    "charged_items",
    "operation_id, contract_id, contract_item_id, item_class, charge_plan, charge, account_role, account_id, amount, currency,"
    " quantity, quantity_unit, output, consumption_date",
)
UPDATE_BALANCE = for_dialect("UPDATE accounts SET balance = :balance WHERE id = :id")
INSERT_ACCOUNT_OPERATION = _insert("account_operations", "account_id, operation_id, kind, amount, balance_after, currency, created_at")
INSERT_JOURNAL_ENTRY = _insert(
    "counter_journal",
    "contract_id, operation_id, kind, scope, item_id, name, unit, present, value, period_start, expires_at, recorded_at",
)
_NEW_VALUE = "SET value = excluded.value, period_start = excluded.period_start, expires_at = excluded.expires_at"
UPSERT_COUNTER = for_dialect(
    "INSERT INTO counters (contract_id, item_id, name, unit, value, period_start, expires_at)"
    " VALUES (:contract_id, :item_id, :name, :unit, :value, :period_start, :expires_at)"
    f" ON CONFLICT (contract_id, item_id, name) DO UPDATE {_NEW_VALUE}"
)
ENSURE_ACTIVATION = for_dialect(
    "INSERT INTO activations (contract_id, id, item_id, kind, status) VALUES (:contract_id, :activation_id, :activation_id,"
    " 'charge', 'active') ON CONFLICT DO NOTHING"
)
UPSERT_ACTIVATION_COUNTER = for_dialect(
    "INSERT INTO activation_counters (contract_id, activation_id, name, unit, value, period_start, expires_at)"
    " VALUES (:contract_id, :activation_id, :name, :unit, :value, :period_start, :expires_at)"
    f" ON CONFLICT (contract_id, activation_id, name) DO UPDATE {_NEW_VALUE}"
)
UPSERT_SHARED_COUNTER = for_dialect(
    "INSERT INTO shared_counters (namespace, name, unit, value, period_start, expires_at)"
    " VALUES (:namespace, :name, :unit, :value, :period_start, :expires_at)"
    f" ON CONFLICT (namespace, name) DO UPDATE {_NEW_VALUE}"
)
INSERT_NOTIFICATION = _insert("notifications", "operation_id, contract_id, kind, message, data, created_at")
INSERT_EXPORTED_ITEM = _insert("exported_items", "operation_id, item, created_at")


@dataclass(frozen=True, slots=True)
class _Values:
    """How values go to and come from one database: exact decimals, exact rationals and instants as its columns keep them."""

    dialect: sa.Dialect

    def decimal(self, value: Any) -> Decimal | None:
        return DECIMAL.process_result_value(value, self.dialect)

    def exact(self, value: Any) -> Exact | None:
        return RATIONAL.process_result_value(value, self.dialect)

    def instant(self, value: Any) -> datetime | None:
        return INSTANT.process_result_value(value, self.dialect)


class ChargeState(NamedTuple):
    """What a charge read, its locks taken: the replay (request hash, result) under its key, the contract (none: no
    access at the date) with its parent, their counters and the holds on them, and the accounts its roles name."""

    replay: tuple[str, str] | None
    contract: Contract | None
    parent: Contract | None
    counters: dict[CounterKey, Exact]
    lives: dict[CounterKey, CounterLife]
    holds: list[tuple[CounterKey, Exact, datetime | None]]
    accounts: dict[AccountId, Account]
    reserved: dict[AccountId, Decimal]


class ChargeStore:
    """Reads and writes a charge (offline, or a session's usage) with the statements above, on the unit of work's
    connection."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._values = _Values(connection.dialect)

    def read(self, batch: DriverBatch, *, service_id: str, user_id: str, at: datetime, idempotency_key: str | None) -> ChargeState:
        """Read (and lock) what charging the item of this access at ``at`` needs, in ``batch`` (run here)."""
        at_bound = INSTANT.process_bind_param(at, self._connection.dialect)
        by_access = {"service_id": service_id, "user_id": user_id, "at": at_bound, "excluding": ""}
        replay: Pending | None = None
        if idempotency_key is not None:
            if batch.dialect == "postgresql":
                batch.add(ADVISORY_LOCK, {"lock_id": lock_id(KeySpace.CHARGING, idempotency_key)}, returns_rows=True)
            replay = batch.add(OPERATION_BY_KEY, {"idempotency_key": idempotency_key}, returns_rows=True)
        state = self._state(batch, STATE_BY_ACCESS, by_access)
        return state._replace(replay=(replay.rows[0][0], replay.rows[0][1]) if replay is not None and replay.rows else None)

    def read_of_contract(self, batch: DriverBatch, contract: Contract, *, excluding_session: str) -> ChargeState:
        """Read (and lock) the charging state of ``contract`` (read and locked already) in ``batch`` (run here), leaving
        out the holds and reservations of session ``excluding_session`` (none: ``""``); its parent is read and locked
        only when it has one."""
        parameters = {"contract_id": contract.id, "excluding": excluding_session}
        return self._state(batch, STATE_BY_CONTRACT, parameters, with_contracts=contract.parent_id is not None)

    def queue_state(
        self,
        batch: DriverBatch,
        statements: StateStatements,
        parameters: Mapping[str, Any],
        *,
        with_contracts: bool = True,
        reads: StateReads = StateReads.ALL,
        after_contracts: Callable[[], object] | None = None,
    ) -> Callable[[], ChargeState]:
        """Queue the state ``statements`` in ``batch`` (``after_contracts`` queues more right after the contracts' lock),
        as far as ``reads`` says; the returned function gives the state once the batch ran (what was not read empty)."""
        contracts = batch.add(statements.contracts, parameters, returns_rows=True) if with_contracts else None
        if after_contracts is not None:
            after_contracts()
        only_contracts = reads is StateReads.CONTRACTS_ONLY
        parts = batch.add(statements.contract_parts if only_contracts else statements.parts, parameters, returns_rows=True)
        accounts = None if only_contracts else batch.add(statements.accounts, parameters, returns_rows=True)
        reservations = batch.add(statements.reservations, parameters, returns_rows=True) if reads is StateReads.ALL else None

        def state() -> ChargeState:
            return self._parsed(
                contracts.rows if contracts is not None else [],
                parts.rows,
                accounts.rows if accounts is not None else [],
                reservations.rows if reservations is not None else [],
            )

        return state

    def _state(
        self, batch: DriverBatch, statements: StateStatements, parameters: dict[str, Any], *, with_contracts: bool = True
    ) -> ChargeState:
        state = self.queue_state(batch, statements, parameters, with_contracts=with_contracts)
        batch.run()
        return state()

    def _parsed(self, contracts: list[Any], parts: list[Any], accounts: list[Any], reservations: list[Any]) -> ChargeState:
        of_part: dict[int, list[Any]] = {part: [] for part in _Part}
        for row in parts:
            of_part[row[0]].append(row)
        contract, parent = self._contracts(contracts, [row[3:6] for row in of_part[_Part.ITEM]], [row[3:6] for row in of_part[_Part.ROLE]])
        values, lives = self._counters(
            [(*row[3:7], *row[9:11]) for row in of_part[_Part.COUNTER]],
            [(*row[3:7], *row[9:11]) for row in of_part[_Part.ACTIVATION_COUNTER]],
        )
        return ChargeState(
            replay=None,
            contract=contract,
            parent=parent,
            counters=values,
            lives=lives,
            holds=[
                (CounterKey(owner, item_id, name, CounterScope(scope), namespace), self._exact_of(delta), self._values.instant(start))
                for scope, namespace, owner, item_id, name, delta, start in (row[3:10] for row in of_part[_Part.HOLD])
            ],
            accounts={account.id: account for account in (self._account(row) for row in accounts)},
            reserved=self._reserved(reservations),
        )

    def _contracts(self, rows: list[Any], items: list[Any], roles: list[Any]) -> tuple[Contract | None, Contract | None]:
        if not rows:
            return None, None
        items_of: dict[str, list[ContractItem]] = {}
        for contract_id, item_id, plan in items:
            items_of.setdefault(contract_id, []).append(ContractItem(ContractItemId(item_id), plan))
        roles_of: dict[str, dict[str, AccountId]] = {}
        for contract_id, role, account_id in roles:
            roles_of.setdefault(contract_id, {})[role] = AccountId(account_id)
        values = self._values
        found = [
            Contract(
                id=ContractId(row[0]),
                subscriber_account_id=SubscriberAccountId(row[1]),
                valid_from=values.instant(row[2]),  # type: ignore[arg-type]
                valid_to=values.instant(row[3]),
                status=ContractStatus(row[4]),
                parent_id=row[5],
                items=tuple(items_of.get(row[0], ())),
                roles=roles_of.get(row[0], {}),
            )
            for row in rows
        ]
        # The access's contract comes first (a linked contract sorts before its parent).
        contract = found[0]
        parent = next((other for other in found[1:] if other.id == contract.parent_id), None)
        return contract, parent

    def _counters(
        self, counters: list[Any], activation_counters: list[Any]
    ) -> tuple[dict[CounterKey, Exact], dict[CounterKey, CounterLife]]:
        values: dict[CounterKey, Exact] = {}
        lives: dict[CounterKey, CounterLife] = {}
        for rows, scope in ((counters, CounterScope.CONTRACT_ITEM), (activation_counters, CounterScope.ACTIVATION)):
            for owner, item_id, name, value, start, expires in rows:
                key = CounterKey(owner, item_id, name, scope)
                values[key] = self._exact_of(value)
                lives[key] = CounterLife(self._values.instant(start), self._values.instant(expires))
        return values, lives

    def _exact_of(self, value: Any) -> Exact:
        found = self._values.exact(value)
        assert found is not None, "a stored counter value is never null"
        return found

    def _account(self, row: Sequence[Any]) -> Account:
        decimal = self._values.decimal
        balance, floor = decimal(row[4]), decimal(row[5])
        assert balance is not None and floor is not None, "an account's balance and floor are never null"
        return Account(
            id=AccountId(row[0]),
            subscriber_account_id=SubscriberAccountId(row[1]),
            kind=AccountKind(row[2]),
            currency=row[3],
            balance=balance,
            floor=floor,
            credit_limit=decimal(row[6]),
            low_balance_threshold=decimal(row[7]),
            status=AccountStatus(row[8]),
            holder_status=SubscriberAccountStatus(row[9]),
        )

    def _reserved(self, rows: list[Any]) -> dict[AccountId, Decimal]:
        totals: dict[AccountId, Decimal] = {}
        # Added in Python: exact on SQLite, where amounts are stored as text.
        with localcontext(rating_context()):
            for account_id, amount in rows:
                totals[AccountId(account_id)] = totals.get(AccountId(account_id), Decimal(0)) + (self._values.decimal(amount) or Decimal(0))
        return totals

    def write(self, batch: DriverBatch, rows: ChargeWrites, *, run: bool = True) -> None:
        """Queue every write of the gathered charges in ``batch`` and run it (unless ``run`` is false: a session step
        sends its own writes with them)."""
        dialect = self._connection.dialect
        batch.add_many(INSERT_OPERATION, bound_rows(charging_operations, rows.operations, dialect))
        batch.add_many(INSERT_CHARGED_ITEM, bound_rows(charged_items, rows.charged_items, dialect))
        balances = [{"id": key, "balance": value} for key, value in rows.balances.items()]
        batch.add_many(UPDATE_BALANCE, bound_rows(accounts, balances, dialect))
        batch.add_many(INSERT_ACCOUNT_OPERATION, bound_rows(account_operations, rows.account_operations, dialect))
        batch.add_many(INSERT_JOURNAL_ENTRY, bound_rows(counter_journal, journal_rows(rows.journal, rows.stored), dialect))
        self._counter_writes(batch, rows.counter_changes)
        notifications = [row | {"data": json.dumps(row["data"], sort_keys=True)} for row in rows.notifications]
        batch.add_many(INSERT_NOTIFICATION, bound_rows(notifications_table, notifications, dialect))
        exported = [
            {"operation_id": key, "item": json.dumps(item, sort_keys=True), "created_at": at} for key, item, at in rows.exported_items
        ]
        batch.add_many(INSERT_EXPORTED_ITEM, bound_rows(exported_items, exported, dialect))
        if run:
            batch.run()

    def _counter_writes(self, batch: DriverBatch, changes: Iterable[CounterChange]) -> None:
        own: list[dict[str, Any]] = []
        activations: list[dict[str, Any]] = []
        activation_rows: list[dict[str, Any]] = []
        shared: list[dict[str, Any]] = []
        for change in changes:
            scope = change.key.scope
            if scope is CounterScope.TRANSIENT:
                continue
            value: dict[str, Any] = {
                "unit": change.unit.value,
                "value": change.after,
                "period_start": change.period_start,
                "expires_at": change.expires_at,
            }
            if scope in (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM):
                own.append({"contract_id": change.key.contract_id, "item_id": change.key.item_id, "name": change.key.name} | value)
            elif scope is CounterScope.SHARED:
                shared.append({"namespace": change.key.namespace, "name": change.key.name} | value)
            elif scope is CounterScope.ACTIVATION:
                held = {"contract_id": change.key.contract_id, "activation_id": change.key.item_id}
                activations.append(held)
                activation_rows.append(held | {"name": change.key.name} | value)
        dialect = self._connection.dialect
        batch.add_many(UPSERT_COUNTER, bound_rows(counters, own, dialect))
        batch.add_many(ENSURE_ACTIVATION, activations)
        batch.add_many(UPSERT_ACTIVATION_COUNTER, bound_rows(activation_counters, activation_rows, dialect))
        batch.add_many(UPSERT_SHARED_COUNTER, bound_rows(shared_counters, shared, dialect))


@dataclass(slots=True)
class ChargeWrites:
    """The rows one charge writes (built by :class:`kopek.charging.offline.ChargeRows`), with the stored counter rows
    its changes replace (from what it read), for the journal."""

    operations: list[dict[str, Any]]
    charged_items: list[dict[str, Any]]
    account_operations: list[dict[str, Any]]
    balances: Mapping[AccountId, Decimal]
    counter_changes: Iterable[CounterChange]
    notifications: list[dict[str, Any]]
    exported_items: list[tuple[str, dict[str, Any], datetime]]
    journal: Sequence[tuple[str, datetime, CounterChange]]
    stored: Mapping[CounterKey, StoredValue | None]

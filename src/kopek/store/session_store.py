"""Charging sessions and their reservations: the pending side of two-phase money.

A reservation row is a pending debit of one account for one session, with an
expiry. What an account can still spend is its balance less its bound less the
sum of its reservation rows, read while the caller holds the account's row lock.

A session step's statements are built once, here and in :mod:`kopek.store.charge_store`
(whose contract state statements they share): one batch reads what the step needs with
its locks (:meth:`SessionStore.read_start`, :meth:`SessionStore.read_step`), and one
writes it (:meth:`SessionStore.write_start`, :meth:`SessionStore.write_step`) with the
answer kept under an idempotency key (:meth:`SessionStore.queue_request`) and the COMMIT.
The answer is made before the writes are sent: the session row is locked from its read
on, so what the writes leave is known without reading it back.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa

from kopek.domain.catalog import CounterScope
from kopek.domain.master import AccountId
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact, rating_context
from kopek.store.charge_store import ADVISORY_LOCK, STATE_BY_ACCESS, STATE_BY_SESSION, ChargeState, ChargeStore, StateReads
from kopek.store.column_values import bound_row, bound_rows, read_row
from kopek.store.driver_batch import DriverBatch, Pending, for_dialect
from kopek.store.key_locks import KeySpace, lock_id, serialise_key
from kopek.store.schema import (
    accounts,
    charging_sessions,
    protocol_rating_groups,
    protocol_sessions,
    reservations,
    session_counter_holds,
    session_requests,
)
from kopek.store.types import INSTANT

ACTIVE = "active"
SESSION = "session"

# ---- a session step's writes, built once -------------------------------------------------------------------------------

STEP_COLUMNS = ("status", "updated_at", "expires_at", "granted_quantity", "used_quantity", "usage_resumes_at", "charged_amount", "impacts")
"""What a step (update, stop, cancel, expiry) sets on its session row."""
UPDATE_STEP = for_dialect(
    f"UPDATE charging_sessions SET {', '.join(f'{name} = :{name}' for name in (*STEP_COLUMNS, 'version'))}"  # noqa: S608 - names from constants
    " WHERE id = :session_id"
)
START_COLUMNS = (
    "id", "reservation_id", "subscriber_account_id", "contract_id", "service_id", "user_id", "item_class", "quantity_property",
    "properties", "status", "default_resolution", "ttl_ms", "started_at", "updated_at", "expires_at", "consumption_date",
    "granted_quantity", "used_quantity", "charged_amount", "currency", "impacts", "version", "kind",
)  # fmt: skip
"""What a start writes on its new session row (the others are null)."""
INSERT_SESSION = for_dialect(
    f"INSERT INTO charging_sessions ({', '.join(START_COLUMNS)}) VALUES ({', '.join(':' + name for name in START_COLUMNS)})"  # noqa: S608 - names from constants
)
DELETE_RESERVATIONS = for_dialect("DELETE FROM reservations WHERE session_id = :session_id")
INSERT_RESERVATION = for_dialect(
    "INSERT INTO reservations (session_id, account_id, amount, expires_at) VALUES (:session_id, :account_id, :amount, :expires_at)"
)
DELETE_HOLDS = for_dialect("DELETE FROM session_counter_holds WHERE session_id = :session_id")
INSERT_HOLD = for_dialect(
    "INSERT INTO session_counter_holds (session_id, scope, namespace, contract_id, item_id, name, delta, period_start)"
    " VALUES (:session_id, :scope, :namespace, :contract_id, :item_id, :name, :delta, :period_start)"
)
_SESSION_ROW = f"SELECT {', '.join(column.name for column in charging_sessions.c)} FROM charging_sessions WHERE id = :session_id"  # noqa: S608 - names from the table
SESSION_ROW_LOCKED = for_dialect(_SESSION_ROW, postgresql=f"{_SESSION_ROW} FOR UPDATE")
REQUEST_BY_KEY = for_dialect("SELECT request_hash, result FROM session_requests WHERE idempotency_key = :idempotency_key")
REQUEST_COLUMNS = ("idempotency_key", "session_id", "step", "request_hash", "result", "created_at")
INSERT_REQUEST = for_dialect(
    f"INSERT INTO session_requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({', '.join(':' + name for name in REQUEST_COLUMNS)})"  # noqa: S608 - names from constants
)
START_CONFLICTS = for_dialect(
    "SELECT id, service_id, user_id FROM charging_sessions"
    " WHERE id = :session_id OR (reservation_id = :reservation_id AND status = 'active' AND kind = 'session')"
)
"""For a start: the session of its id, if it exists, and the live sessions of the reservation it would join."""
AUTHORIZATION = "authorization"
"""The kinds of rows of ``charging_sessions``: charging sessions, and authorizations (offline requests that only
reserve), which share their reservations, holds and expiry."""


class StepRead(NamedTuple):
    """What a session step read in its first batch, its locks taken: the answer stored under its idempotency key
    (request hash, result), the session row (none: no such row) and its contract's charging state."""

    replay: tuple[str, str] | None
    row: dict[str, Any] | None
    state: ChargeState


class StartRead(NamedTuple):
    """What a start read in its first batch, its locks taken: the answer stored under its idempotency key, whether its
    session id exists, the access (service id, user id) of the live sessions of the reservation it would join (none
    without one), and the charging state of the contract its access selects (no contract: no access at the date)."""

    replay: tuple[str, str] | None
    exists: bool
    access: tuple[str, str] | None
    state: ChargeState


class Written(NamedTuple):
    """What a start or a step leaves once its batch ran: the session row and its reservations (by account id, each with
    its account's currency), as a read of them would give."""

    row: dict[str, Any]
    reservations: list[dict[str, Any]]


class SessionStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def read_step(self, batch: DriverBatch, *, session_id: str, idempotency_key: str | None, reads: StateReads) -> StepRead:
        """Read a step's state in ``batch`` (run here), each statement keyed by the session id: the key's lock and its
        stored answer, then the session's contract (and parent) locked with their items and roles, the session row
        locked, and as far as ``reads`` says the counters, the holds of the other live grants, the role accounts locked
        in id order and the other sessions' reservations against them."""
        replay = self._queue_replay(batch, idempotency_key)
        key = {"session_id": session_id}
        row: list[Pending] = []
        state = ChargeStore(self._connection).queue_state(
            batch,
            STATE_BY_SESSION,
            {**key, "excluding": session_id},
            reads=reads,
            after_contracts=lambda: row.append(batch.add(SESSION_ROW_LOCKED, key, returns_rows=True)),
        )
        batch.run()
        names = [column.name for column in charging_sessions.c]
        found = read_row(charging_sessions, names, row[0].rows[0], self._connection.dialect) if row[0].rows else None
        return StepRead(_stored(replay), found, state())

    def read_start(
        self,
        batch: DriverBatch,
        *,
        session_id: str,
        reservation_id: str,
        service_id: str,
        user_id: str,
        at: datetime,
        idempotency_key: str | None,
    ) -> StartRead:
        """Read a start's state in ``batch`` (run here): the key's lock and its stored answer, the reservation id's lock
        (starts joining one multiservice session wait for each other), the sessions it conflicts with, then the
        charging state of the contract that the access selects at ``at``, as an offline charge reads it."""
        replay = self._queue_replay(batch, idempotency_key)
        if batch.dialect == "postgresql":
            batch.add(ADVISORY_LOCK, {"lock_id": lock_id(KeySpace.RESERVATIONS, reservation_id)}, returns_rows=True)
        conflicts = batch.add(START_CONFLICTS, {"session_id": session_id, "reservation_id": reservation_id}, returns_rows=True)
        at_bound = INSTANT.process_bind_param(at, self._connection.dialect)
        by_access = {"service_id": service_id, "user_id": user_id, "at": at_bound, "excluding": ""}
        state = ChargeStore(self._connection).queue_state(batch, STATE_BY_ACCESS, by_access)
        batch.run()
        exists = any(row[0] == session_id for row in conflicts.rows)
        access = next(((row[1], row[2]) for row in conflicts.rows if row[0] != session_id), None)
        return StartRead(_stored(replay), exists, access, state())

    def _queue_replay(self, batch: DriverBatch, idempotency_key: str | None) -> Pending | None:
        """Queue the key's lock (calls with one key wait for each other, :mod:`kopek.store.key_locks`) and the look-up
        of the answer stored under it, which then sees whatever committed while this call waited."""
        if idempotency_key is None:
            return None
        if batch.dialect == "postgresql":
            batch.add(ADVISORY_LOCK, {"lock_id": lock_id(KeySpace.SESSIONS, idempotency_key)}, returns_rows=True)
        return batch.add(REQUEST_BY_KEY, {"idempotency_key": idempotency_key}, returns_rows=True)

    def queue_request(self, batch: DriverBatch, values: Mapping[str, Any]) -> None:
        """Queue the answer of a session call under its idempotency key (``values``: :data:`REQUEST_COLUMNS`; the key is
        unique: a concurrent retry fails here)."""
        batch.add(INSERT_REQUEST, bound_row(session_requests, {name: values[name] for name in REQUEST_COLUMNS}, self._connection.dialect))

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(charging_sessions).values(**values))

    def request_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """The request hash and stored answer of the session call made with this key, if any.

        Calls with one key wait here for each other (:mod:`kopek.store.key_locks`), so the look-up
        sees the answer of a call with the key that committed while this one waited.
        """
        serialise_key(self._connection, KeySpace.SESSIONS, idempotency_key)
        query = sa.select(session_requests.c.request_hash, session_requests.c.result).where(
            session_requests.c.idempotency_key == idempotency_key
        )
        row = self._connection.execute(query).first()
        return (row[0], row[1]) if row is not None else None

    def insert_request(self, values: dict[str, Any]) -> None:
        """Remember a session call's answer under its idempotency key (unique: a concurrent retry fails here)."""
        self._connection.execute(sa.insert(session_requests).values(**values))

    def get(self, session_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = sa.select(charging_sessions).where(charging_sessions.c.id == session_id)
        if lock:
            query = query.with_for_update()
        row = self._connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def claim_expired(self, session_id: str, now: datetime) -> dict[str, Any] | None:
        """The session if it is still live and expired at ``now``, locked; ``None`` if another process holds or resolved it."""
        query = (
            sa.select(charging_sessions)
            .where(charging_sessions.c.id == session_id, charging_sessions.c.status == ACTIVE, charging_sessions.c.expires_at <= now)
            .with_for_update(skip_locked=True)
        )
        row = self._connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def update(self, session_id: str, version: int, values: Mapping[str, Any]) -> bool:
        """Write ``values`` only if the session is still at ``version`` (which then grows by one)."""
        result = self._connection.execute(
            sa.update(charging_sessions)
            .where(charging_sessions.c.id == session_id, charging_sessions.c.version == version)
            .values(**values, version=version + 1)
        )
        return result.rowcount == 1

    def reserved(self, account_ids: Iterable[str], *, excluding: Iterable[str] = ()) -> dict[AccountId, Decimal]:
        """The sum of the reservations held against each account, leaving out the sessions ``excluding``."""
        ids, skipped = sorted(set(account_ids)), list(excluding)
        if not ids:
            return {}
        query = sa.select(reservations.c.account_id, reservations.c.amount).where(reservations.c.account_id.in_(ids))
        if skipped:
            query = query.where(reservations.c.session_id.not_in(skipped))
        totals: dict[AccountId, Decimal] = {}
        # Added in Python: exact on SQLite, where amounts are stored as text.
        with decimal.localcontext(rating_context()):
            for account_id, amount in self._connection.execute(query):
                totals[AccountId(account_id)] = totals.get(AccountId(account_id), Decimal(0)) + amount
        return totals

    def write_start(
        self,
        batch: DriverBatch,
        values: Mapping[str, Any],
        *,
        amounts: Mapping[AccountId, Decimal],
        held: Iterable[CounterChange],
        currencies: Mapping[AccountId, str],
    ) -> Written:
        """Queue in ``batch`` a new session (``values``: :data:`START_COLUMNS`) with its reservations of ``amounts`` (in
        the ``currencies`` of their accounts) and its holds; what it leaves."""
        dialect = self._connection.dialect
        bound = bound_row(charging_sessions, {name: values[name] for name in START_COLUMNS}, dialect)
        batch.add(INSERT_SESSION, bound)
        row = dict.fromkeys(charging_sessions.c.keys()) | read_row(
            charging_sessions, START_COLUMNS, [bound[name] for name in START_COLUMNS], dialect
        )
        reserved = self._queue_reservations_and_holds(batch, values["id"], amounts=amounts, expires_at=values["expires_at"], held=held)
        return Written(row, self._reservations_left(reserved, currencies))

    def write_step(
        self,
        batch: DriverBatch,
        *,
        row: Mapping[str, Any],
        values: Mapping[str, Any],
        amounts: Mapping[AccountId, Decimal],
        expires_at: datetime,
        held: Iterable[CounterChange],
        currencies: Mapping[AccountId, str],
    ) -> Written:
        """Queue in ``batch`` a step's ``values`` (:data:`STEP_COLUMNS`) on session ``row``, its version one more, and
        replace its reservations (``amounts``, in the ``currencies`` of their accounts) and holds; what it leaves.

        ``row`` was read with its lock (:data:`SESSION_ROW_LOCKED` on PostgreSQL; SQLite's writer holds the database's),
        which its transaction holds until it ends: no one else changes the row meanwhile."""
        dialect = self._connection.dialect
        key = {"session_id": row["id"]}
        bound = bound_row(charging_sessions, {**{name: values[name] for name in STEP_COLUMNS}, "version": row["version"] + 1}, dialect)
        batch.add(UPDATE_STEP, bound | key)
        batch.add(DELETE_RESERVATIONS, key)
        batch.add(DELETE_HOLDS, key)
        reserved = self._queue_reservations_and_holds(batch, row["id"], amounts=amounts, expires_at=expires_at, held=held)
        after = dict(row) | read_row(charging_sessions, list(bound), list(bound.values()), dialect)
        return Written(after, self._reservations_left(reserved, currencies))

    def _queue_reservations_and_holds(
        self,
        batch: DriverBatch,
        session_id: str,
        *,
        amounts: Mapping[AccountId, Decimal],
        expires_at: datetime,
        held: Iterable[CounterChange],
    ) -> list[dict[str, Any]]:
        """Queue the session's reservations and holds; its reservation rows, by account id, as written."""
        dialect = self._connection.dialect
        key = {"session_id": session_id}
        rows = [
            bound_row(reservations, {**key, "account_id": account_id, "amount": amount, "expires_at": expires_at}, dialect)
            for account_id, amount in sorted(amounts.items())
            if amount > 0
        ]
        batch.add_many(INSERT_RESERVATION, rows)
        batch.add_many(INSERT_HOLD, bound_rows(session_counter_holds, _hold_rows(session_id, held), dialect))
        return rows

    def _reservations_left(self, rows: list[dict[str, Any]], currencies: Mapping[AccountId, str]) -> list[dict[str, Any]]:
        names = ["session_id", "account_id", "amount", "expires_at"]
        dialect = self._connection.dialect
        return [
            read_row(reservations, names, [row[name] for name in names], dialect) | {"currency": currencies[row["account_id"]]}
            for row in rows
        ]

    def replace_reservations(self, session_id: str, amounts: Mapping[AccountId, Decimal], *, expires_at: datetime) -> None:
        self._connection.execute(sa.delete(reservations).where(reservations.c.session_id == session_id))
        rows = [
            {"session_id": session_id, "account_id": account_id, "amount": amount, "expires_at": expires_at}
            for account_id, amount in sorted(amounts.items())
            if amount > 0
        ]
        if rows:
            self._connection.execute(sa.insert(reservations), rows)

    def replace_holds(self, session_id: str, held: Iterable[CounterChange]) -> None:
        """Keep what the session's grant now holds of the stored counters (every scope but ``transient``, which lives
        in the session itself); nothing once it ends."""
        holds = session_counter_holds.c
        self._connection.execute(sa.delete(session_counter_holds).where(holds.session_id == session_id))
        rows = _hold_rows(session_id, held)
        if rows:
            self._connection.execute(sa.insert(session_counter_holds), rows)

    def holds_seen_by(
        self, contract_id: str, *, parent_id: str | None, shared: Iterable[tuple[str, str]], excluding: str | None = None
    ) -> list[tuple[CounterKey, Exact, datetime | None]]:
        """What the live grants hold of the counters contract ``contract_id`` sees: its own (every scope), its parent's
        contract counters and the ``shared`` (namespace, name) counters; all but the grant of session ``excluding``.
        Each hold as ``(counter, delta, period start)``, in a fixed order."""
        holds, sessions = session_counter_holds.c, charging_sessions.c
        wanted_shared = set(shared)
        own_scopes = [CounterScope.CONTRACT.value, CounterScope.CONTRACT_ITEM.value, CounterScope.ACTIVATION.value]
        seen = [sa.and_(holds.scope.in_(own_scopes), holds.namespace == "", holds.contract_id == contract_id)]
        if parent_id is not None:
            seen.append(sa.and_(holds.scope == CounterScope.CONTRACT.value, holds.namespace == "", holds.contract_id == parent_id))
        if wanted_shared:
            namespaces = sorted({namespace for namespace, _ in wanted_shared})
            seen.append(sa.and_(holds.scope == CounterScope.SHARED.value, holds.namespace.in_(namespaces)))
        query = (
            sa.select(holds.scope, holds.namespace, holds.contract_id, holds.item_id, holds.name, holds.delta, holds.period_start)
            .join(charging_sessions, sessions.id == holds.session_id)
            .where(sessions.status == ACTIVE, sa.or_(*seen))
            .order_by(holds.session_id, holds.scope, holds.namespace, holds.contract_id, holds.item_id, holds.name)
        )
        if excluding is not None:
            query = query.where(holds.session_id != excluding)
        return [
            (CounterKey(owner, item_id, name, CounterScope(scope), namespace), delta, period_start)
            for scope, namespace, owner, item_id, name, delta, period_start in self._connection.execute(query)
            if scope != CounterScope.SHARED.value or (namespace, name) in wanted_shared
        ]

    def holds_on(self, contract_ids: Iterable[str], *, namespaces: Iterable[str] = ()) -> bool:
        """Whether a live grant holds a counter of one of these contracts (of any scope but ``shared``), or a shared
        counter of one of ``namespaces``."""
        holds = session_counter_holds.c
        held: sa.ColumnElement[bool] = holds.contract_id.in_(sorted(set(contract_ids)))
        wanted = sorted(set(namespaces))
        if wanted:
            held = sa.or_(held, sa.and_(holds.scope == CounterScope.SHARED.value, holds.namespace.in_(wanted)))
        query = (
            sa.select(holds.session_id)
            .join(charging_sessions, charging_sessions.c.id == holds.session_id)
            .where(charging_sessions.c.status == ACTIVE, held)
            .limit(1)
        )
        return self._connection.execute(query).first() is not None

    def reservations_of(self, session_id: str) -> list[dict[str, Any]]:
        """The session's reservations, each with its account's currency."""
        query = (
            sa.select(reservations, accounts.c.currency)
            .join(accounts, accounts.c.id == reservations.c.account_id)
            .where(reservations.c.session_id == session_id)
            .order_by(reservations.c.account_id)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def lock_reservation(self, reservation_id: str) -> None:
        """Wait until no other transaction holds ``reservation_id`` (a multiservice session joining or ending), then
        hold it until this one ends (:mod:`kopek.store.key_locks`)."""
        serialise_key(self._connection, KeySpace.RESERVATIONS, reservation_id)

    def start_conflicts(self, session_id: str, reservation_id: str) -> tuple[bool, tuple[str, str] | None]:
        """For a start: whether session ``session_id`` exists, and the access (service id, user id) of the live
        sessions of ``reservation_id`` (none without one), in one statement."""
        sessions = charging_sessions.c
        live_of_reservation = sa.and_(sessions.reservation_id == reservation_id, sessions.status == ACTIVE, sessions.kind == SESSION)
        query = sa.select(sessions.id, sessions.service_id, sessions.user_id).where(sa.or_(sessions.id == session_id, live_of_reservation))
        rows = self._connection.execute(query).all()
        exists = any(row[0] == session_id for row in rows)
        access = next(((row[1], row[2]) for row in rows if row[0] != session_id), None)
        return exists, access

    def live_of(self, subscriber_account_id: str, *, limit: int) -> list[dict[str, Any]]:
        query = (
            sa.select(charging_sessions)
            .where(
                charging_sessions.c.subscriber_account_id == subscriber_account_id,
                charging_sessions.c.status == ACTIVE,
                charging_sessions.c.kind == SESSION,
            )
            .order_by(charging_sessions.c.started_at, charging_sessions.c.id)
            .limit(limit)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def live_of_reservation(self, reservation_id: str) -> list[str]:
        query = (
            sa.select(charging_sessions.c.id)
            .where(
                charging_sessions.c.reservation_id == reservation_id,
                charging_sessions.c.status == ACTIVE,
                charging_sessions.c.kind == SESSION,
            )
            .order_by(charging_sessions.c.id)
        )
        return list(self._connection.execute(query).scalars())

    def expired(self, now: datetime, *, limit: int) -> list[str]:
        """Ids of live sessions past their expiry, oldest first."""
        query = (
            sa.select(charging_sessions.c.id)
            .where(charging_sessions.c.status == ACTIVE, charging_sessions.c.expires_at <= now)
            .order_by(charging_sessions.c.expires_at, charging_sessions.c.id)
            .limit(limit)
        )
        return list(self._connection.execute(query).scalars())

    # ---- retention: ended sessions removed -------------------------------------------------------

    def ended_before(self, cutoff: datetime, *, limit: int) -> list[str]:
        """Ids of sessions that ended (stopped, cancelled, expired) at or before ``cutoff``, oldest first; a session
        that an open protocol session still names (one of its rating groups) is kept with it."""
        sessions, groups = charging_sessions.c, protocol_rating_groups.c
        named_by_an_open_protocol_session = (
            sa.select(groups.session_id)
            .join(
                protocol_sessions,
                sa.and_(protocol_sessions.c.protocol == groups.protocol, protocol_sessions.c.id == groups.session),
            )
            .where(groups.session_id == sessions.id, protocol_sessions.c.status == "open")
        )
        query = (
            sa.select(sessions.id)
            .where(sessions.status != ACTIVE, sessions.updated_at <= cutoff, ~named_by_an_open_protocol_session.exists())
            .order_by(sessions.updated_at, sessions.id)
            .limit(limit)
        )
        return list(self._connection.execute(query).scalars())

    def remove(self, session_ids: Sequence[str]) -> int:
        """Delete ended sessions with what hangs on them (the answers kept for their idempotency keys; an ended session
        holds no reservation and no counter hold); how many sessions went. Their charging operations stay, naming them."""
        if not session_ids:
            return 0
        ids = list(session_ids)
        for table in (session_requests, reservations, session_counter_holds):
            self._connection.execute(sa.delete(table).where(table.c.session_id.in_(ids)))
        ended = sa.delete(charging_sessions).where(charging_sessions.c.id.in_(ids), charging_sessions.c.status != ACTIVE)
        return int(self._connection.execute(ended).rowcount)


def _stored(replay: Pending | None) -> tuple[str, str] | None:
    return (replay.rows[0][0], replay.rows[0][1]) if replay is not None and replay.rows else None


def _hold_rows(session_id: str, held: Iterable[CounterChange]) -> list[dict[str, Any]]:
    return [
        {
            "session_id": session_id,
            "scope": change.key.scope.value,
            "namespace": change.key.namespace,
            "contract_id": change.key.contract_id,
            "item_id": change.key.item_id,
            "name": change.key.name,
            "delta": change.delta,
            "period_start": change.period_start,
        }
        for change in held
        if change.key.scope is not CounterScope.TRANSIENT and change.delta != 0
    ]

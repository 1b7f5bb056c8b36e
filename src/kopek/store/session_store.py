"""Charging sessions and their reservations: the pending side of two-phase money.

A reservation row is a pending debit of one account for one session, with an
expiry. What an account can still spend is its balance less its bound less the
sum of its reservation rows, read while the caller holds the account's row lock.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek.domain.catalog import CounterScope
from kopek.domain.master import AccountId
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact, rating_context
from kopek.store.schema import charging_sessions, reservations, session_counter_holds, session_requests

ACTIVE = "active"

_SEEN_BY_OTHERS = frozenset({CounterScope.SHARED, CounterScope.CONTRACT})
"""Counter scopes whose values other contracts read too: shared allowances, and a parent's contract counters."""


class SessionStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(charging_sessions).values(**values))

    def request_by_key(self, idempotency_key: str) -> tuple[str, str] | None:
        """The request hash and stored answer of the session call made with this key, if any."""
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
        """Keep what the session's grant now holds of counters other contracts see too (scopes ``shared`` and
        ``contract``); nothing once it ends."""
        holds = session_counter_holds.c
        self._connection.execute(sa.delete(session_counter_holds).where(holds.session_id == session_id))
        rows = [
            {
                "session_id": session_id,
                "scope": change.key.scope.value,
                "namespace": change.key.namespace,
                "contract_id": change.key.contract_id,
                "name": change.key.name,
                "delta": change.delta,
                "period_start": change.period_start,
            }
            for change in held
            if change.key.scope in _SEEN_BY_OTHERS and change.delta != 0
        ]
        if rows:
            self._connection.execute(sa.insert(session_counter_holds), rows)

    def held_by_others(
        self, contract_id: str, *, contracts: Iterable[str], shared: Iterable[tuple[str, str]]
    ) -> list[tuple[CounterKey, Exact, datetime | None]]:
        """What each live session of a contract other than ``contract_id`` holds of the contract counters of
        ``contracts`` and of the ``shared`` (namespace, name) counters: ``(counter, delta, period start)``."""
        holds, sessions = session_counter_holds.c, charging_sessions.c
        wanted_shared = set(shared)
        seen = sa.or_(
            sa.and_(holds.scope == CounterScope.SHARED.value, holds.namespace.in_(sorted({namespace for namespace, _ in wanted_shared}))),
            sa.and_(holds.scope == CounterScope.CONTRACT.value, holds.contract_id.in_(sorted(set(contracts)))),
        )
        query = (
            sa.select(holds.scope, holds.namespace, holds.contract_id, holds.name, holds.delta, holds.period_start)
            .join(charging_sessions, sessions.id == holds.session_id)
            .where(sessions.status == ACTIVE, sessions.contract_id != contract_id, seen)
            .order_by(holds.session_id, holds.scope, holds.namespace, holds.contract_id, holds.name)
        )
        return [
            (CounterKey(owner, "", name, CounterScope(scope), namespace), delta, period_start)
            for scope, namespace, owner, name, delta, period_start in self._connection.execute(query)
            if scope != CounterScope.SHARED.value or (namespace, name) in wanted_shared
        ]

    def reservations_of(self, session_id: str) -> list[dict[str, Any]]:
        query = sa.select(reservations).where(reservations.c.session_id == session_id).order_by(reservations.c.account_id)
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def live_of(self, subscriber_account_id: str, *, limit: int) -> list[dict[str, Any]]:
        query = (
            sa.select(charging_sessions)
            .where(charging_sessions.c.subscriber_account_id == subscriber_account_id, charging_sessions.c.status == ACTIVE)
            .order_by(charging_sessions.c.started_at, charging_sessions.c.id)
            .limit(limit)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def live_on_contract(self, contract_id: str, *, excluding: str) -> list[dict[str, Any]]:
        """The live sessions of a contract but ``excluding``, in the order they started."""
        query = (
            sa.select(charging_sessions)
            .where(
                charging_sessions.c.contract_id == contract_id,
                charging_sessions.c.status == ACTIVE,
                charging_sessions.c.id != excluding,
            )
            .order_by(charging_sessions.c.started_at, charging_sessions.c.id)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def live_of_reservation(self, reservation_id: str) -> list[str]:
        query = (
            sa.select(charging_sessions.c.id)
            .where(charging_sessions.c.reservation_id == reservation_id, charging_sessions.c.status == ACTIVE)
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

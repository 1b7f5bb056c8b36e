"""What a ledger verification reads: balances, the account operations behind them, the charged items they post, and
the reservations and holds of sessions; each as a stream in key order, so a large ledger is read in constant memory.

Keys are ordered by their code points on both databases (``COLLATE "C"`` on PostgreSQL, SQLite's binary collation),
the order Python compares strings in, so two streams can be walked side by side. Amounts are added exactly: by
PostgreSQL's ``NUMERIC``, or in Python from SQLite's decimal text (whose ``SUM`` would go through binary floats).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek.money import rating_context
from kopek.store.schema import account_operations, accounts, charged_items, charging_sessions, reservations, session_counter_holds

ACTIVE = "active"
POSTING_KINDS = ("debit", "accumulation")
"""The kinds of the account operations that post charged items (opening, credits, adjustments and refills post none)."""
RECHARGE = "recharge"
"""The kind of a recharge's compensating account operations (docs/recharging.md)."""
ROWS_PER_FETCH = 10_000

Group = tuple[tuple[str, ...], int, Decimal]
"""A key, how many rows it groups and the exact sum of their amounts."""


class LedgerStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def balances(self) -> Iterator[tuple[str, str, Decimal]]:
        """Every account as ``(id, kind, balance)``, by id."""
        query = sa.select(accounts.c.id, accounts.c.kind, accounts.c.balance).order_by(self._ordered(accounts.c.id))
        for row in self._rows(query):
            yield row.id, row.kind, row.balance

    def operation_sums(self) -> Iterator[Group]:
        """Per account: its number of account operations and the sum of their amounts, by account id."""
        return self._groups(account_operations.c.amount, account_operations.c.account_id)

    def postings(self) -> Iterator[Group]:
        """Per (charging operation, account): the account operations that post charged items, counted and added (a
        rating job's chunks: :meth:`chunk_postings`)."""
        posting = account_operations.c.kind.in_(POSTING_KINDS) & account_operations.c.chunk_id.is_(None)
        return self._groups(account_operations.c.amount, account_operations.c.operation_id, account_operations.c.account_id, where=posting)

    def charged(self) -> Iterator[Group]:
        """Per (charging operation, account): the charged items that move money (amount not zero), counted and added; a
        recharge's corrections are not among them (see :meth:`corrections`), nor a rating job's chunks (:meth:`chunk_charged`)."""
        charges = charged_items.c.recharge_id.is_(None) & charged_items.c.chunk_id.is_(None)
        return self._groups(charged_items.c.amount, charged_items.c.operation_id, charged_items.c.account_id, where=charges, skip_zero=True)

    def chunk_postings(self) -> Iterator[Group]:
        """Per (chunk of a rating job, account): the account operations that post the chunk's charged items, counted and
        added."""
        posting = account_operations.c.kind.in_(POSTING_KINDS) & account_operations.c.chunk_id.is_not(None)
        return self._groups(account_operations.c.amount, account_operations.c.chunk_id, account_operations.c.account_id, where=posting)

    def chunk_charged(self) -> Iterator[Group]:
        """Per (chunk of a rating job, account): the chunk's charged items that move money, counted and added."""
        charges = charged_items.c.recharge_id.is_(None) & charged_items.c.chunk_id.is_not(None)
        return self._groups(charged_items.c.amount, charged_items.c.chunk_id, charged_items.c.account_id, where=charges, skip_zero=True)

    def corrections(self) -> Iterator[Group]:
        """Per (recharge, account): the correction rows a recharge wrote (reversals and new charged items), added."""
        written = charged_items.c.recharge_id.is_not(None)
        return self._groups(charged_items.c.amount, charged_items.c.recharge_id, charged_items.c.account_id, where=written, skip_zero=True)

    def compensations(self) -> Iterator[Group]:
        """Per (recharge, account): the compensating account operations of recharges, added."""
        compensating = account_operations.c.kind == RECHARGE
        return self._groups(
            account_operations.c.amount, account_operations.c.operation_id, account_operations.c.account_id, where=compensating
        )

    def reservations_of_ended_sessions(self) -> list[tuple[str, str, Decimal, str]]:
        """Reservations still held by sessions that ended: ``(session, account, amount, session status)``."""
        query = (
            sa.select(reservations.c.session_id, reservations.c.account_id, reservations.c.amount, charging_sessions.c.status)
            .join(charging_sessions, charging_sessions.c.id == reservations.c.session_id)
            .where(charging_sessions.c.status != ACTIVE)
            .order_by(reservations.c.session_id, reservations.c.account_id)
        )
        return [(row[0], row[1], row[2], row[3]) for row in self._connection.execute(query)]

    def holds_of_ended_sessions(self) -> list[tuple[str, str, str]]:
        """Counter holds still kept for sessions that ended: ``(session, counter name, session status)``."""
        holds = session_counter_holds.c
        query = (
            sa.select(holds.session_id, holds.name, charging_sessions.c.status)
            .join(charging_sessions, charging_sessions.c.id == holds.session_id)
            .where(charging_sessions.c.status != ACTIVE)
            .order_by(holds.session_id, holds.name)
        )
        return [(row[0], row[1], row[2]) for row in self._connection.execute(query)]

    def count(self, table: sa.Table) -> int:
        return self._connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

    def _groups(
        self,
        amount: sa.ColumnElement[Any],
        *keys: sa.ColumnElement[Any],
        where: sa.ColumnElement[bool] | None = None,
        skip_zero: bool = False,
    ) -> Iterator[Group]:
        ordered = [self._ordered(key) for key in keys]
        if self._connection.dialect.name == "postgresql":
            query = sa.select(*keys, sa.func.count(), sa.func.sum(amount)).group_by(*keys).order_by(*ordered)
            if where is not None:
                query = query.where(where)
            if skip_zero:
                query = query.where(amount != Decimal(0))
            for row in self._rows(query):
                yield tuple(row[: len(keys)]), row[len(keys)], Decimal(row[len(keys) + 1])
            return
        query = sa.select(*keys, amount).order_by(*ordered)
        if where is not None:
            query = query.where(where)
        yield from _added(self._rows(query), len(keys), skip_zero=skip_zero)

    def _ordered(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.collate(column, "C") if self._connection.dialect.name == "postgresql" else column

    def _rows(self, query: sa.Select[Any]) -> Iterator[Any]:
        yield from self._connection.execute(query.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH))


def _added(rows: Iterator[Any], width: int, *, skip_zero: bool) -> Iterator[Group]:
    """Rows ``(*key, amount)`` in key order, grouped by key with their count and exact sum."""
    exact = rating_context()  # added through it, not as the thread's context: a generator must not leak it
    exact.traps[decimal.Inexact] = True
    current: tuple[str, ...] | None = None
    count, total = 0, Decimal(0)
    for row in rows:
        amount = Decimal(row[width])
        if skip_zero and amount == 0:
            continue
        key = tuple(row[:width])
        if key != current:
            if current is not None:
                yield current, count, total
            current, count, total = key, 0, Decimal(0)
        count += 1
        total = exact.add(total, amount)
    if current is not None:
        yield current, count, total

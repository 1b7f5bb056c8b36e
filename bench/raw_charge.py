"""The raw transaction that durable offline charging is measured against, on its own tables.

One charge, as a careful engineer would write it by hand for one tariff: a conditional debit
(``UPDATE accounts SET balance = balance - amount WHERE id = ? AND balance - amount >= floor
RETURNING balance``), one account-operation row, one charged-item row, commit. Amounts are
integers (hundredths of the currency). PostgreSQL through psycopg on a schema of its own
(each client one connection, statements prepared by psycopg as it does after a few runs);
SQLite through ``sqlite3`` with the pragmas kopek sets (WAL, ``synchronous=NORMAL``).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from bench.world import FIRST_USE, OPENING_BALANCE

OPENING_CENTS = int(OPENING_BALANCE.replace(".", ""))
SCHEMA = (
    "CREATE TABLE accounts (id varchar(128) PRIMARY KEY, balance bigint NOT NULL, floor bigint NOT NULL)",
    "CREATE TABLE account_operations (id {serial} PRIMARY KEY, account_id varchar(128) NOT NULL REFERENCES accounts(id), "
    "operation_id varchar(64) NOT NULL, amount bigint NOT NULL, balance_after bigint NOT NULL, created_at {instant} NOT NULL)",
    "CREATE TABLE charged_items (id {serial} PRIMARY KEY, operation_id varchar(64) NOT NULL, account_id varchar(128) NOT NULL, "
    "item_class varchar(128) NOT NULL, amount bigint NOT NULL, consumption_date {instant} NOT NULL)",
)
DEBIT = "UPDATE accounts SET balance = balance - {p} WHERE id = {p} AND balance - {p} >= floor RETURNING balance"
OPERATION = "INSERT INTO account_operations (account_id, operation_id, amount, balance_after, created_at) VALUES ({p}, {p}, {p}, {p}, {p})"
CHARGED = "INSERT INTO charged_items (operation_id, account_id, item_class, amount, consumption_date) VALUES ({p}, {p}, {p}, {p}, {p})"


@dataclass(frozen=True, slots=True)
class RawCharge:
    """One charge of the raw transaction: who pays, how much (hundredths), what."""

    operation_id: str
    account_id: str
    amount_cents: int
    item_class: str
    consumption_date: datetime


def account(index: int) -> str:
    return f"sub-{index:05d}-prepaid"


def raw_charges(threads: int, subscribers: int, per_thread: int, *, prefix: str, seed: int = 1) -> list[list[RawCharge]]:
    """``per_thread`` charges for each of ``threads`` clients; client ``t`` debits accounts ``t``, ``t + threads``, ..."""
    pick = random.Random(seed)
    classes = ("voice_call", "sms", "data_session")
    return [
        [
            RawCharge(
                f"{prefix}-{thread}-{number}",
                account(range(thread, subscribers, threads)[number % len(range(thread, subscribers, threads))]),
                pick.randint(1, 300),
                classes[number % 3],
                FIRST_USE,
            )
            for number in range(per_thread)
        ]
        for thread in range(threads)
    ]


def create_postgres(url: str, subscribers: int) -> None:
    """The three tables and ``subscribers`` accounts on the schema of ``url`` (a libpq URL)."""
    with psycopg.connect(url) as connection:
        for statement in SCHEMA:
            connection.execute(statement.format(serial="bigserial", instant="timestamptz"))
        with connection.cursor() as cursor, cursor.copy("COPY accounts (id, balance, floor) FROM STDIN") as copy:
            for index in range(subscribers):
                copy.write_row((account(index), OPENING_CENTS, 0))


def postgres_charger(connection: psycopg.Connection[tuple[object, ...]]) -> Callable[[RawCharge], None]:
    """A function that runs one raw charge on ``connection`` and commits it."""
    debit, operation, charged = (statement.format(p="%s") for statement in (DEBIT, OPERATION, CHARGED))

    def charge(item: RawCharge) -> None:
        with connection.cursor() as cursor:
            cursor.execute(debit, (item.amount_cents, item.account_id, item.amount_cents), prepare=True)
            row = cursor.fetchone()
            if row is None:
                connection.rollback()
                raise RuntimeError(f"{item.account_id}: insufficient balance")
            cursor.execute(operation, (item.account_id, item.operation_id, -item.amount_cents, row[0], item.consumption_date), prepare=True)
            cursor.execute(
                charged, (item.operation_id, item.account_id, item.item_class, item.amount_cents, item.consumption_date), prepare=True
            )
        connection.commit()

    return charge


def create_sqlite(path: str, subscribers: int) -> None:
    connection = sqlite_connection(path)
    try:
        for statement in SCHEMA:
            connection.execute(statement.format(serial="integer", instant="text"))
        connection.executemany("INSERT INTO accounts VALUES (?, ?, 0)", [(account(index), OPENING_CENTS) for index in range(subscribers)])
        connection.commit()
    finally:
        connection.close()


def sqlite_connection(path: str) -> sqlite3.Connection:
    """A connection with the pragmas kopek's SQLite engine sets."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def sqlite_charger(connection: sqlite3.Connection) -> Callable[[RawCharge], None]:
    debit, operation, charged = (statement.format(p="?") for statement in (DEBIT, OPERATION, CHARGED))

    def charge(item: RawCharge) -> None:
        connection.execute("BEGIN IMMEDIATE")
        row = connection.execute(debit, (item.amount_cents, item.account_id, item.amount_cents)).fetchone()
        if row is None:
            connection.execute("ROLLBACK")
            raise RuntimeError(f"{item.account_id}: insufficient balance")
        date = item.consumption_date.isoformat()
        connection.execute(operation, (item.account_id, item.operation_id, -item.amount_cents, row[0], date))
        connection.execute(charged, (item.operation_id, item.account_id, item.item_class, item.amount_cents, date))
        connection.execute("COMMIT")

    return charge


def calls(charger: Callable[[RawCharge], None], items: Sequence[RawCharge]) -> list[Callable[[], object]]:
    return [(lambda item=item: charger(item)) for item in items]

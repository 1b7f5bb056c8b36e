"""Calls made with one idempotency key run one after the other.

A retry sent while the first call is still running must answer the first result. Its
look-up of the key can only see that result once the first call committed, so the calls
with one key are serialised before the look-up: on PostgreSQL by a transaction-scoped
advisory lock on a 64-bit digest of the key (released by the commit or the rollback, also
when the client's connection dies); SQLite needs nothing, since every writing transaction
already holds the database's one write lock from its start (``BEGIN IMMEDIATE``).

Two keys whose digests collide only wait for each other; a lock not taken within the
connection's ``lock_timeout`` fails like any other lock (``storage_busy``).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import sqlalchemy as sa

_ADVISORY_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("lock_id", type_=sa.BigInteger)))


class KeySpace(StrEnum):
    """Where a key is kept: offline charges and session calls each have their own keys; multiservice sessions are
    serialised by their reservation id; maintenance passes over one table (e.g. pruning) by the table's name."""

    CHARGING = "charging"
    SESSIONS = "sessions"
    RESERVATIONS = "reservations"
    MAINTENANCE = "maintenance"


def lock_id(space: KeySpace, key: str) -> int:
    """The advisory lock id of ``key`` in ``space``: a signed 64-bit digest."""
    digest = hashlib.blake2b(f"{space.value}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def serialise_key(connection: sa.Connection, space: KeySpace, key: str) -> None:
    """Wait until no other transaction holds ``key``, then hold it until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(_ADVISORY_LOCK, {"lock_id": lock_id(space, key)})

"""The connections the hot path keeps between its units of work.

An offline charge or a session step is one short transaction. Taking its connection from SQLAlchemy's pool and giving
it back (the pool's check-out and check-in events, the reset on return, a new ``Connection`` with its event dispatch)
cost 5 to 10 % of its CPU (docs/performance.md, "The hot path keeps its connections"). A :class:`KeptConnections` keeps
up to ``keep`` idle connections, each still checked out of the pool, and hands them to the hot path's units of work,
most recently used first. What the pool's check-out did is done here: a kept connection is looked at before it is used
again (on PostgreSQL its socket, as :func:`kopek.store.database.kept_connections` says: one the server closed while it
waited is dropped), and only a connection left outside any transaction is kept, so the next unit of work finds it as
the pool would hand it out.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from psycopg.pq import TransactionStatus


class KeptConnections:
    """Up to ``keep`` idle connections of ``engine``; ``alive`` tells whether an idle driver connection may be used."""

    def __init__(self, engine: sa.Engine, *, keep: int, alive: Callable[[Any], bool]) -> None:
        assert keep >= 1, "a holder that keeps nothing is not made"
        self._engine = engine
        self._keep = keep
        self._alive = alive
        self._lock = threading.Lock()
        self._idle: list[sa.Connection] = []
        self._closed = False
        # Whatever drops the holder without closing it gives its connections back to the pool, not to the collector
        # (which would warn of connections never checked in).
        self._finalizer = weakref.finalize(self, _give_all_back, self._idle, self._lock)
        # The pool disposed of (a restart of the engine's connections) closes the kept ones too, as it closes its own.
        sa.event.listen(engine, "engine_disposed", functools.partial(_drop_all, self._idle, self._lock))

    @classmethod
    def of(cls, engine: sa.Engine, alive: Callable[[Any], bool]) -> KeptConnections | None:
        """A holder for ``engine``, keeping as many connections as its pool keeps; None when its pool is not a queue of
        connections (a static or per-thread pool hands out the same connection again, which must not be kept twice)."""
        pool = engine.pool
        if not isinstance(pool, sa.pool.QueuePool):
            return None
        return cls(engine, keep=pool.size(), alive=alive)

    def connect(self) -> sa.Connection:
        """The most recently used idle connection that is still usable, else a new one from the pool."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._engine.connect()
            if self._alive(connection.connection.driver_connection):
                return connection
            # Closed by the server while it waited: the pool drops it, and the next one is tried.
            connection.invalidate()
            connection.close()

    def give_back(self, connection: sa.Connection) -> None:
        """Keep ``connection`` for the next unit of work when it is idle and there is room, else return it to the pool."""
        if not connection.closed and not connection.invalidated and not connection.in_transaction() and _driver_idle(connection):
            with self._lock:
                if not self._closed and len(self._idle) < self._keep:
                    self._idle.append(connection)
                    return
        connection.close()

    def close(self) -> None:
        """Return every kept connection to the pool; connections given back afterwards go to the pool too."""
        with self._lock:
            self._closed = True
        self._finalizer()


def _give_all_back(idle: list[sa.Connection], lock: threading.Lock) -> None:
    for connection in _taken(idle, lock):
        connection.close()


def _drop_all(idle: list[sa.Connection], lock: threading.Lock, _engine: sa.Engine) -> None:
    for connection in _taken(idle, lock):
        connection.invalidate()
        connection.close()


def _taken(idle: list[sa.Connection], lock: threading.Lock) -> list[sa.Connection]:
    with lock:
        taken, idle[:] = list(idle), []
    return taken


def _driver_idle(connection: sa.Connection) -> bool:
    """Whether the driver's connection is outside any transaction (SQLAlchemy's view aside)."""
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        return not driver.in_transaction  # type: ignore[union-attr]
    return driver.info.transaction_status is TransactionStatus.IDLE  # type: ignore[union-attr]

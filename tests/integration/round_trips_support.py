"""Counting what an engine sends to PostgreSQL, from libpq's protocol trace: statements (each one the server runs:
an extended-protocol Execute or a simple Query, BEGIN and COMMIT included, whether SQLAlchemy or the hot path's
driver batches sent it) and round trips (each time the client, having asked for answers with a Sync, a Flush or a
simple Query, waits for the server: a psycopg pipeline of many statements is one); transactions from SQLAlchemy's
events."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kopek import Engine
from tests.fakes import FakeTicks, FixedClock, SequentialIds
from tests.worlds import build_world

WARM_UP_CALLS = 12
"""Enough calls for psycopg to prepare every statement of a path (it prepares one on its fifth use on a connection)."""
MEASURED_CALLS = 5


@contextmanager
def world_to_count(url: str) -> Iterator[Engine]:
    """The test world on ``url``, with a balance for many calls; its caches never go stale (the ticks stand still), so
    no count includes a read of the newest catalog version or of the API keys."""
    with Engine(url, clock=FixedClock(), new_id=SequentialIds(), ticks=FakeTicks()) as engine:
        build_world(engine, alice_balance="100000.00")
        yield engine


@dataclass
class Traffic:
    """What a piece of work sent: statements, transactions begun, rollbacks, round trips to the server, parses."""

    statements: int = 0
    transactions: int = 0
    rollbacks: int = 0
    round_trips: int = 0
    parses: int = 0
    """Statements parsed by the server: none once every statement of a path is prepared on the connection."""
    sent: list[str] = field(default_factory=list)


@contextmanager
def traffic(engine: Engine, folder: Path) -> Iterator[Traffic]:
    """Counts what ``engine`` sends inside the block (one thread at a time)."""
    counted = Traffic()
    traces: list[Path] = []

    def begin(*_: Any) -> None:
        counted.transactions += 1

    def rollback(*_: Any) -> None:
        counted.rollbacks += 1

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        descriptor, name = tempfile.mkstemp(prefix="trace-", suffix=".txt", dir=folder)
        traces.append(Path(name))
        dbapi_connection.pgconn.trace(descriptor)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None and not dbapi_connection.closed:
            dbapi_connection.pgconn.untrace()

    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (engine.database, "begin", begin),
        (engine.database, "rollback", rollback),
        (engine.database.pool, "checkout", checkout),
        (engine.database.pool, "checkin", checkin),
    ]
    for target, name, listener in listeners:
        sa.event.listen(target, name, listener)
    try:
        yield counted
    finally:
        for target, name, listener in listeners:
            sa.event.remove(target, name, listener)
        for path in traces:
            _count(counted, _messages(path.read_text()))


def _count(counted: Traffic, messages: list[tuple[str, str, str]]) -> None:
    waiting = False
    for direction, name, text in messages:
        if direction == "F":
            counted.statements += name in ("Execute", "Query")
            counted.parses += name == "Parse"
            waiting = waiting or name in ("Sync", "Flush", "Query")
            if name in ("Parse", "Query"):
                counted.sent.append(text[:150])
        elif waiting:
            counted.round_trips += 1
            waiting = False


def _messages(trace: str) -> list[tuple[str, str, str]]:
    """The messages of both sides, in order: direction (``F`` the client, ``B`` the server), name and the rest.

    A line of the trace is ``[timestamp] TAB direction TAB length TAB message ...``."""
    found = []
    for line in trace.splitlines():
        fields = line.split("\t")
        if fields[0] not in ("F", "B"):
            fields = fields[1:]
        if len(fields) > 2 and fields[0] in ("F", "B"):
            name, _, text = fields[2].partition(" ")
            found.append((fields[0], name, " ".join([text, *fields[3:]]).strip()))
    return found


def per_call(counted: Traffic) -> tuple[float, float, float]:
    """Statements, transactions and round trips per call, over :data:`MEASURED_CALLS` calls."""
    return (counted.statements / MEASURED_CALLS, counted.transactions / MEASURED_CALLS, counted.round_trips / MEASURED_CALLS)

"""A pooled PostgreSQL connection that the server has closed costs a charge nothing: no ping before each use.

Instead of a ``SELECT 1`` on every checkout, the pool looks at the connection's socket (an
idle connection that can be read from has been closed by the server) and an operation whose
connection breaks before its commit runs once more. Both are tested by terminating the
connection's server process with ``pg_terminate_backend`` (which waits until it is gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import ChargeResult, Engine
from kopek.store.database import create_database_engine
from tests.fakes import FixedClock, SequentialIds
from tests.worlds import balance, build_world, call

pytestmark = pytest.mark.postgres

TERMINATION_WAIT_MS = 10_000


@pytest.fixture
def world(postgres_url: str) -> Iterator[Engine]:
    with Engine(postgres_url, clock=FixedClock(), new_id=SequentialIds()) as engine:
        build_world(engine, alice_balance="100.00")
        yield engine


def charged(result: ChargeResult) -> Decimal:
    return sum((item.amount for item in result.charged_items or ()), Decimal(0))


def backend_pids(engine: Engine) -> list[int]:
    """The server processes of the connections ``engine`` opens from now on (its pool emptied first)."""
    pids: list[int] = []

    def connected(dbapi_connection: Any, _record: Any) -> None:
        pids.append(dbapi_connection.info.backend_pid)

    sa.event.listen(engine.database, "connect", connected)
    engine.database.dispose()
    return pids


def terminate(url: str, pid: int) -> None:
    admin = create_database_engine(url)
    try:
        with admin.begin() as connection:
            stopped = connection.execute(sa.text("SELECT pg_terminate_backend(:pid, :wait)"), {"pid": pid, "wait": TERMINATION_WAIT_MS})
            assert stopped.scalar_one() is True
    finally:
        admin.dispose()


def test_a_charge_after_its_pooled_connection_was_terminated_is_charged_once_on_a_new_one(world: Engine) -> None:
    pids = backend_pids(world)
    before = balance(world, "alice-prepaid")
    first = world.charge(call())
    assert len(pids) == 1

    terminate(world.url, pids[0])
    second = world.charge(call())

    assert len(pids) == 2 and pids[1] != pids[0]
    assert balance(world, "alice-prepaid") == before - charged(first) - charged(second)


def test_a_charge_whose_connection_breaks_before_its_commit_runs_once_more(world: Engine) -> None:
    pids = backend_pids(world)
    before = balance(world, "alice-prepaid")
    terminated: list[int] = []

    def terminate_the_first(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # After kopek's own look at the socket: the connection looked alive when it was handed out.
        if not terminated:
            terminated.append(dbapi_connection.info.backend_pid)
            terminate(world.url, terminated[0])

    sa.event.listen(world.database, "checkout", terminate_the_first)
    result = world.charge(call())

    assert terminated == [pids[0]] and len(pids) == 2
    assert balance(world, "alice-prepaid") == before - charged(result) and charged(result) > 0

"""The hot path keeps its connections between units of work (kopek.store.kept_connections), on both databases.

A charge or a session step takes its connection from the ones kept, not from the pool, and gives it back only when it
is outside any transaction; at most as many as the pool keeps are kept, and closing or disposing of the engine hands
them back. (A kept PostgreSQL connection that the server closed is tested in test_broken_connections.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.errors import KopekError
from kopek.store.database import kept_connections
from kopek.store.kept_connections import KeptConnections
from tests.worlds import balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine, alice_balance="100.00")
    return engine


def checkouts(engine: sa.Engine) -> list[int]:
    """Counts each connection taken out of ``engine``'s pool from now on."""
    taken: list[int] = []
    sa.event.listen(engine, "checkout", lambda *_: taken.append(1))
    return taken


@pytest.fixture
def kept(engine: Engine) -> Iterator[KeptConnections]:
    """A holder of its own on the engine's pool (the engine's own holder keeps what its charges used)."""
    holder = kept_connections(engine.database)
    assert holder is not None
    yield holder
    holder.close()


def test_consecutive_charges_take_one_connection_out_of_the_pool(world: Engine) -> None:
    taken = checkouts(world.database)
    before = balance(world, "alice-prepaid")
    charged = [world.charge(call(), idempotency_key=f"k{number}") for number in range(5)]
    paid = sum((item.amount for result in charged for item in result.charged_items or ()), Decimal(0))

    assert paid > 0 and balance(world, "alice-prepaid") == before - paid
    # The two balance reads took theirs from the pool, and so did the first charge; kept, its connection served the
    # other four.
    assert len(taken) == 3


def test_a_refused_charge_leaves_its_connection_kept_and_clean_for_the_next(world: Engine) -> None:
    world.charge(call(), idempotency_key="first")
    taken = checkouts(world.database)
    with pytest.raises(KopekError):
        world.charge(call(user="nobody-msisdn"), idempotency_key="refused")
    before = balance(world, "alice-prepaid")
    result = world.charge(call(), idempotency_key="after")

    paid = sum((item.amount for item in result.charged_items or ()), Decimal(0))
    assert balance(world, "alice-prepaid") == before - paid
    assert len(taken) == 2  # the two balance reads; both charges ran on the kept connection


def test_closing_the_engine_gives_the_kept_connections_back(any_url: str) -> None:
    engine = Engine(any_url)
    build_world(engine)
    engine.charge(call())
    pool = engine.database.pool
    assert isinstance(pool, sa.pool.QueuePool) and pool.checkedout() == 1

    engine.close()

    assert pool.checkedout() == 0


def test_a_connection_given_back_inside_a_transaction_goes_to_the_pool(kept: KeptConnections, engine: Engine) -> None:
    pool = engine.database.pool
    assert isinstance(pool, sa.pool.QueuePool)
    out = pool.checkedout()
    in_sqlalchemy = kept.connect()
    in_sqlalchemy.begin()
    kept.give_back(in_sqlalchemy)
    # A transaction the driver began behind SQLAlchemy's back counts as well.
    in_driver = kept.connect()
    driver: Any = in_driver.connection.driver_connection
    driver.execute("BEGIN")
    kept.give_back(in_driver)

    assert pool.checkedout() == out


def test_no_more_connections_are_kept_than_the_pool_keeps(kept: KeptConnections, engine: Engine) -> None:
    pool = engine.database.pool
    assert isinstance(pool, sa.pool.QueuePool)
    out = pool.checkedout()
    connections = [kept.connect() for _ in range(pool.size() + 2)]
    for connection in connections:
        kept.give_back(connection)

    assert pool.checkedout() == out + pool.size()
    kept.close()
    assert pool.checkedout() == out


def test_disposing_of_the_engine_closes_the_kept_connections(world: Engine) -> None:
    world.charge(call())
    connected: list[Any] = []
    sa.event.listen(world.database, "connect", lambda dbapi_connection, _record: connected.append(dbapi_connection))

    world.database.dispose()
    result = world.charge(call(), idempotency_key="after the restart")

    assert result.charged_items
    assert len(connected) == 1, "the charge after the restart opened a connection of its own"

"""Sessions on different contracts that draw on one counter: a shared allowance, or a parent's bundle that a linked
child uses. A live grant holds the free units it was priced with, so a session of another contract is granted only
what is left, and gets it back once the first session ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import pytest
import sqlalchemy as sa

from kopek import Engine, StartSession, StopSession, UpdateSession
from kopek.store.schema import session_counter_holds
from kopek.store.uow import UnitOfWork
from tests.integration.support import prepaid_subscriber, run_together, sharing_engine, voice_contract

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def world(any_url: str) -> Iterator[Engine]:
    with sharing_engine(any_url) as engine:
        yield engine


def start(engine: Engine, session_id: str, line: str, seconds: int, *, at: datetime = AT) -> Decimal:
    """Open a call session on ``line`` asking for ``seconds``; the amount it reserves."""
    command = StartSession(session_id, "call", "voice", line, at, 600_000, "duration", requested_quantity=seconds)
    started = engine.start_session(command)
    assert started.session.granted_quantity == seconds
    return started.session.reserved_amount


def holds(engine: Engine) -> list[tuple[str, str, str, str, Decimal]]:
    with UnitOfWork(engine.database, writes=False) as uow:
        rows = uow.connection.execute(sa.select(session_counter_holds)).mappings()
        return sorted((row["session_id"], row["scope"], row["namespace"] or row["contract_id"], row["name"], row["delta"]) for row in rows)


def family(engine: Engine, *holders: str) -> None:
    for holder in holders:
        prepaid_subscriber(engine, holder)
        voice_contract(engine, f"{holder}-line", holder, "family_pool")


def test_a_grant_on_one_contract_holds_shared_free_units_from_a_session_on_another(world: Engine) -> None:
    family(world, "ann", "ben")

    assert start(world, "ann-call", "ann-line", 400) == Decimal(0)  # 400 of the 600 free seconds
    assert start(world, "ben-call", "ben-line", 300) == Decimal("1.00")  # 200 free left, 100 s at 0.01
    assert holds(world) == [
        ("ann-call", "shared", "family", "pool", Decimal(-400)),
        ("ben-call", "shared", "family", "pool", Decimal(-200)),
    ]

    world.cancel_session("ann-call")
    again = world.update_session(UpdateSession("ben-call", used_quantity=0, requested_quantity=300))

    assert again.session.reserved_amount == Decimal(0)  # ann's hold went with her session
    assert holds(world) == [("ben-call", "shared", "family", "pool", Decimal(-300))]


def test_grants_of_the_same_contract_are_priced_on_top_of_another_contracts_hold(world: Engine) -> None:
    family(world, "ann", "ben")

    start(world, "ann-call", "ann-line", 400)
    assert start(world, "ben-call-1", "ben-line", 100) == Decimal(0)  # 100 of the 200 left
    assert start(world, "ben-call-2", "ben-line", 300) == Decimal("2.00")  # 100 free left, 200 s at 0.01


def test_usage_charged_at_stop_replaces_the_hold_without_counting_twice(world: Engine) -> None:
    family(world, "ann", "ben")

    start(world, "ann-call", "ann-line", 400)
    stopped = world.stop_session(StopSession("ann-call", used_quantity=400))
    assert stopped.charge is not None and [item.amount for item in stopped.charge.charged_items or []] == [Decimal(0)]

    assert start(world, "ben-call", "ben-line", 300) == Decimal("1.00")  # 200 s left in the stored pool, no hold
    assert holds(world) == [("ben-call", "shared", "family", "pool", Decimal(-200))]


def test_a_childs_session_holds_its_parents_bundle_and_the_parents_session_sees_it(world: Engine) -> None:
    parent_account = prepaid_subscriber(world, "parent")
    prepaid_subscriber(world, "teen", balance="0")
    voice_contract(world, "parent-line", "parent", "parent_bundle")
    voice_contract(world, "teen-line", "teen", "parent_bundle", payer=parent_account, parent="parent-line")

    assert start(world, "teen-call", "teen-line", 250) == Decimal(0)
    assert start(world, "parent-call", "parent-line", 100) == Decimal("1.00")  # 50 s of the bundle left, 50 s at 0.02
    world.stop_session(StopSession("parent-call", used_quantity=0))

    assert start(world, "teen-call-2", "teen-line", 100) == Decimal("1.00")  # the first teen call still holds 250
    assert holds(world) == [
        ("teen-call", "contract", "parent-line", "bundle", Decimal(-250)),
        ("teen-call-2", "contract", "parent-line", "bundle", Decimal(-50)),
    ]


def test_a_hold_priced_in_an_earlier_reset_period_holds_nothing_in_the_next(world: Engine) -> None:
    parent_account = prepaid_subscriber(world, "parent")
    prepaid_subscriber(world, "teen", balance="0")
    voice_contract(world, "parent-line", "parent", "parent_bundle")
    voice_contract(world, "teen-line", "teen", "parent_bundle", payer=parent_account, parent="parent-line")

    start(world, "teen-call", "teen-line", 300, at=datetime(2026, 3, 31, 23, 50, tzinfo=UTC))  # the whole March bundle

    assert start(world, "parent-call", "parent-line", 300, at=datetime(2026, 4, 1, 0, 5, tzinfo=UTC)) == Decimal(0)


def test_every_way_a_session_ends_releases_its_holds(world: Engine) -> None:
    family(world, "ann", "ben", "cy")
    start(world, "ann-call", "ann-line", 100)
    start(world, "ben-call", "ben-line", 100)
    start(world, "cy-call", "cy-line", 100)

    world.stop_session(StopSession("ann-call", used_quantity=50))
    world.cancel_session("ben-call")
    world.update_session(UpdateSession("cy-call", used_quantity=100, requested_quantity=0))

    assert holds(world) == []


@pytest.mark.postgres
def test_sessions_of_six_contracts_started_at_once_share_the_pool_exactly_once(postgres_url: str) -> None:
    """Six members start a 200 s call at the same moment on a 600 s pool: three calls' worth is free, the rest is
    reserved at 0.01 a second, whoever came first."""
    with sharing_engine(postgres_url) as engine:
        members = [f"member-{index}" for index in range(6)]
        family(engine, *members)

        reserved = run_together([partial(start, engine, f"{member}-call", f"{member}-line", 200) for member in members])

        assert all(isinstance(amount, Decimal) for amount in reserved), reserved
        assert sum(reserved, Decimal(0)) == Decimal("0.01") * (6 * 200 - 600)
        assert sum((hold[4] for hold in holds(engine)), Decimal(0)) == Decimal(-600)

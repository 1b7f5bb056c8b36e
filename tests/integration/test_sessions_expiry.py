"""Expiry clean-up: a session left alone ends with its default resolution, once, whoever cleans up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kopek import Engine
from kopek.charging.session_views import Resolution, SessionStatus
from tests.fakes import FixedClock, SequentialIds
from tests.integration.sessions_support import TTL_MS, reserved_total, start_call
from tests.integration.support import operations_sum, run_together
from tests.worlds import balance, build_world


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def test_expired_confirmed_session_charges_its_last_grant_as_used(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("call-1", requested="300", resolution=Resolution.CONFIRMED))
    clock.advance(milliseconds=TTL_MS - 1)
    assert world.cleanup_expired_sessions().resolved == []
    clock.advance(milliseconds=1)
    assert world.cleanup_expired_sessions().resolved == ["call-1"]
    ended = world.session("call-1")
    # 300 s granted: 60 free, 4 minutes at 0.60.
    assert (ended.status, ended.used_quantity, ended.charged_amount) == (SessionStatus.EXPIRED, Decimal(300), Decimal("2.40"))
    assert balance(world, "alice-prepaid") == Decimal("7.60") == operations_sum(world, "alice-prepaid")
    assert reserved_total(world, "alice-prepaid") == 0
    assert world.cleanup_expired_sessions().resolved == []


def test_expired_cancelled_session_releases_its_reservation(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("call-1", requested="300", resolution=Resolution.CANCELLED))
    clock.advance(minutes=5)
    assert world.cleanup_expired_sessions().resolved == ["call-1"]
    ended = world.session("call-1")
    assert (ended.status, ended.charged_amount, ended.impacts.charged_items) == (SessionStatus.EXPIRED, 0, [])
    assert balance(world, "alice-prepaid") == Decimal("10.00")
    assert reserved_total(world, "alice-prepaid") == 0


def test_an_update_extends_the_expiry(world: Engine, clock: FixedClock) -> None:
    from kopek.charging.session_views import UpdateSession

    world.start_session(start_call("call-1"))
    clock.advance(milliseconds=TTL_MS - 1000)
    world.update_session(UpdateSession("call-1", used_quantity="30"))
    clock.advance(milliseconds=TTL_MS - 1000)
    assert world.cleanup_expired_sessions().resolved == []
    assert world.session("call-1").status is SessionStatus.ACTIVE


def test_forced_cleanup_ends_a_live_session_before_its_expiry(world: Engine) -> None:
    world.start_session(start_call("call-1", requested="300", resolution=Resolution.CONFIRMED))
    ended = world.cleanup_session("call-1")
    assert (ended.session.status, ended.session.charged_amount) == (SessionStatus.EXPIRED, Decimal("2.40"))


SESSIONS = 8


def test_two_engines_cleaning_up_at_once_resolve_each_session_once(world: Engine, clock: FixedClock) -> None:
    for number in range(SESSIONS):
        world.start_session(start_call(f"call-{number}", requested="120", resolution=Resolution.CONFIRMED))
    clock.advance(minutes=2)
    with Engine(world.url, clock=clock, new_id=SequentialIds("other")) as other:
        first, second = run_together([world.cleanup_expired_sessions, other.cleanup_expired_sessions])
    assert not isinstance(first, BaseException) and not isinstance(second, BaseException), (first, second)
    assert set(first.resolved).isdisjoint(second.resolved)
    assert sorted(first.resolved + second.resolved) == sorted(f"call-{number}" for number in range(SESSIONS))
    # The first grant holds the free minute and costs 0.60; each later one is priced on what is left: 1.20.
    assert balance(world, "alice-prepaid") == Decimal("10.00") - Decimal("0.60") - Decimal("1.20") * (SESSIONS - 1)
    assert operations_sum(world, "alice-prepaid") == balance(world, "alice-prepaid")
    assert reserved_total(world, "alice-prepaid") == 0

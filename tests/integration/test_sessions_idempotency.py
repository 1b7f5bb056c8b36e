"""Session calls with an idempotency key: a retry answers the first result and charges nothing more."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from kopek import Code, Engine, KopekError
from kopek.charging.session_views import SessionResult, StopSession, UpdateSession
from tests.integration.sessions_support import start_call
from tests.integration.support import operation_count, run_together
from tests.worlds import balance, build_world


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def test_a_retried_update_answers_the_first_result_and_charges_once(world: Engine) -> None:
    world.start_session(start_call("s1"))
    update = UpdateSession("s1", used_quantity="120", requested_quantity="60", idempotency_key="u-1")

    first = world.update_session(update)
    operations, money = operation_count(world), balance(world, "alice-prepaid")
    retry = world.update_session(update)

    assert (first.replayed, retry.replayed) == (False, True)
    assert retry.model_copy(update={"replayed": False}) == first
    assert (operation_count(world), balance(world, "alice-prepaid")) == (operations, money)
    assert world.session("s1").used_quantity == Decimal(120)


def test_a_retried_stop_after_the_session_ended_is_a_replay_not_an_error(world: Engine) -> None:
    world.start_session(start_call("s1"))
    stop = StopSession("s1", used_quantity="30", idempotency_key="stop-1")

    first = world.stop_session(stop)
    retry = world.stop_session(stop)

    assert retry.replayed and retry.charge == first.charge
    with pytest.raises(KopekError) as raised:
        world.stop_session(StopSession("s1", used_quantity="30"))
    assert raised.value.code is Code.SESSION_ALREADY_ENDED


def test_a_retried_start_with_its_key_is_a_replay_and_without_it_a_duplicate(world: Engine) -> None:
    start = replace(start_call("s1"), idempotency_key="start-1")

    first = world.start_session(start)
    retry = world.start_session(start)

    assert retry.replayed and retry.granted_quantity == first.granted_quantity
    with pytest.raises(KopekError) as raised:
        world.start_session(start_call("s1"))
    assert raised.value.code is Code.ALREADY_EXISTS


def test_one_key_for_two_different_calls_is_refused_and_changes_nothing(world: Engine) -> None:
    world.start_session(start_call("s1"))
    world.update_session(UpdateSession("s1", used_quantity="60", idempotency_key="k"))
    operations, money = operation_count(world), balance(world, "alice-prepaid")

    with pytest.raises(KopekError) as raised:
        world.update_session(UpdateSession("s1", used_quantity="90", idempotency_key="k"))

    assert raised.value.code is Code.IDEMPOTENCY_KEY_REUSED
    assert (operation_count(world), balance(world, "alice-prepaid")) == (operations, money)


def test_concurrent_retries_of_one_update_charge_once(world: Engine) -> None:
    world.start_session(start_call("s1"))
    update = UpdateSession("s1", used_quantity="120", requested_quantity="60", idempotency_key="u-1")
    operations = operation_count(world)

    outcomes = run_together([lambda: world.update_session(update) for _ in range(6)])

    assert all(isinstance(outcome, SessionResult) for outcome in outcomes), outcomes
    assert sorted(outcome.replayed for outcome in outcomes) == [False] + [True] * 5
    assert operation_count(world) == operations + 1

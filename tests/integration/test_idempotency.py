"""Idempotent charging: a retry with the same key returns the first result and charges nothing more."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kopek import AdjustmentInput, Category, ChargeableItem, ChargeResult, Code, Engine, KopekError, ResultOptions
from kopek.clock import random_ids
from tests.fakes import FixedClock
from tests.integration.support import operation_count, operations_sum, run_together, snapshot
from tests.worlds import AT, balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def test_retry_with_the_same_key_returns_the_first_result_and_charges_nothing_more(world: Engine) -> None:
    first = world.charge(call(seconds="90"), idempotency_key="call-1")
    after_first = snapshot(world)

    retry = world.charge(call(seconds="90"), idempotency_key="call-1")

    assert retry == first
    assert snapshot(world) == after_first
    assert balance(world, "alice-prepaid") == Decimal("9.40") == operations_sum(world, "alice-prepaid")
    assert operation_count(world) == 1


def test_retry_answers_with_the_first_result_even_after_later_charges(world: Engine, clock: FixedClock) -> None:
    everything = ResultOptions(
        charging_process_info=True, account_info=True, account_operations=True, contract_info=True, chargeable_item_info=True
    )
    first = world.charge(call(seconds="90"), everything, idempotency_key="call-1")
    clock.advance(minutes=5)
    world.charge(call(seconds="30"))

    retry = world.charge(call(seconds="90"), everything, idempotency_key="call-1")

    assert retry.operation_id == first.operation_id
    assert retry.account_info == first.account_info  # the balance as the first call left it: 9.40
    assert retry.account_info is not None and retry.account_info[0].balance == Decimal("9.40")
    assert retry.charged_items == first.charged_items
    assert retry.account_operations == first.account_operations
    assert first.charging_process_info is not None and retry.charging_process_info is not None
    assert (first.charging_process_info.replayed, retry.charging_process_info.replayed) == (False, True)
    assert retry.charging_process_info.charged_at == first.charging_process_info.charged_at
    assert balance(world, "alice-prepaid") == Decimal("8.80")


def test_retry_returns_the_sections_it_asks_for(world: Engine) -> None:
    first = world.charge(call(seconds="90"), idempotency_key="call-1")
    assert first.account_info is None

    retry = world.charge(call(seconds="90"), ResultOptions(account_info=True, charged_items=False), idempotency_key="call-1")

    assert retry.operation_id == first.operation_id
    assert retry.charged_items is None
    assert retry.account_info is not None and retry.account_info[0].balance == Decimal("9.40")
    assert operation_count(world) == 1


def test_a_key_is_remembered_by_another_engine_on_the_same_database(world: Engine) -> None:
    first = world.charge(call(seconds="90"), idempotency_key="call-1")
    with Engine(world.url, create_schema=False) as other:
        assert other.charge(call(seconds="90"), idempotency_key="call-1") == first
    assert operation_count(world) == 1


@pytest.mark.parametrize(
    "different",
    [
        pytest.param(call(seconds="91"), id="other-quantity"),
        pytest.param(call(seconds="90", destination="44207"), id="other-property"),
        pytest.param(call("bob-msisdn", seconds="90"), id="other-user"),
        pytest.param(call(seconds="90", at=AT + timedelta(seconds=1)), id="other-consumption-date"),
        pytest.param(ChargeableItem("sms", AT, "mobile", "alice-msisdn", {"destination": "33123"}), id="other-item-class"),
    ],
)
def test_the_same_key_with_a_different_item_is_refused(world: Engine, different: ChargeableItem) -> None:
    world.charge(call(seconds="90"), idempotency_key="call-1")
    before = snapshot(world)

    with pytest.raises(KopekError) as refused:
        world.charge(different, idempotency_key="call-1")

    assert (refused.value.category, refused.value.code) == (Category.ALREADY_EXISTS, Code.IDEMPOTENCY_KEY_REUSED)
    assert refused.value.code.value == "idempotency_key_reused_with_different_item"
    assert snapshot(world) == before


def test_a_failed_charge_stores_nothing_under_its_key(world: Engine) -> None:
    # 60 s free, then 540 s at 0.02 = 10.80, more than alice's 10.00.
    expensive = call(seconds="600", destination="44207")
    before = snapshot(world)
    with pytest.raises(KopekError) as refused:
        world.charge(expensive, idempotency_key="call-1")
    assert refused.value.code is Code.INSUFFICIENT_BALANCE
    assert snapshot(world) == before

    world.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("5.00"), reason="top-up"))
    result = world.charge(expensive, idempotency_key="call-1")

    assert result.charged_items is not None and result.charged_items[0].amount == Decimal("10.80")
    assert balance(world, "alice-prepaid") == Decimal("4.20") == operations_sum(world, "alice-prepaid")
    assert world.charge(expensive, idempotency_key="call-1") == result
    assert operation_count(world) == 1


def test_a_key_whose_charge_failed_may_be_used_for_another_item(world: Engine) -> None:
    with pytest.raises(KopekError):
        world.charge(call(seconds="600", destination="44207"), idempotency_key="call-1")
    result = world.charge(call(seconds="90"), idempotency_key="call-1")
    assert result.charged_items is not None and result.charged_items[0].amount == Decimal("0.60")


def test_charges_without_a_key_are_never_deduplicated(world: Engine) -> None:
    world.charge(call(seconds="90"))
    world.charge(call(seconds="90"))
    assert operation_count(world) == 2
    assert balance(world, "alice-prepaid") == Decimal("8.20")


def test_keys_are_not_shared_between_different_keys(world: Engine) -> None:
    first = world.charge(call(seconds="90"), idempotency_key="call-1")
    second = world.charge(call(seconds="90"), idempotency_key="call-2")
    assert first.operation_id != second.operation_id
    assert balance(world, "alice-prepaid") == Decimal("8.20")


THREADS = 8


def test_concurrent_requests_with_the_same_key_charge_once_and_answer_alike(any_url: str, clock: FixedClock) -> None:
    with Engine(any_url, clock=clock, new_id=random_ids) as engine:
        build_world(engine)
        tasks = [lambda: engine.charge(call(seconds="90"), idempotency_key="storm-1") for _ in range(THREADS)]

        answers = run_together(tasks)

        errors = [answer for answer in answers if not isinstance(answer, ChargeResult)]
        assert errors == []
        assert all(answer == answers[0] for answer in answers)
        assert operation_count(engine) == 1
        assert balance(engine, "alice-prepaid") == Decimal("9.40") == operations_sum(engine, "alice-prepaid")
        assert [counter.value for counter in engine.contract("alice-contract").counters] == [Decimal(0)]


def test_retry_is_recognised_whatever_the_spelling_of_the_same_values(world: Engine) -> None:
    from datetime import timezone

    first = world.charge(call(seconds="90"), idempotency_key="call-1")
    paris_summer = timezone(timedelta(hours=2))
    same_item = ChargeableItem(
        "voice_call", AT.astimezone(paris_summer), "mobile", "alice-msisdn", {"duration": 90, "destination": "33123", "roaming": "false"}
    )

    retry = world.charge(same_item, idempotency_key="call-1")

    assert retry.operation_id == first.operation_id
    assert operation_count(world) == 1

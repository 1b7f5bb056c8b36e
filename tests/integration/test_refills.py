"""Refills on SQLite and PostgreSQL: credit, bonus units with expiry, refusals that change nothing, retries."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import AccessInput, AccountUpdate, ChargeableItem, Engine, KopekError
from kopek.charging.refills import RefillCommand, RefillResult
from kopek.domain.master import AccountStatus
from kopek.errors import Category, Code, Reason
from kopek.store.schema import account_operations, charging_operations, counters, notifications, refills
from tests.fakes import FixedClock
from tests.fee_world import STARTED, at, balance, build, contract, subscriber

NOW = at("2026-06-01T12:00")


def topup(amount: str | None = "20.00", *, refill_id: str = "r-1", plan: str = "topup", contract_id: str = "ann-contract") -> RefillCommand:
    return RefillCommand(refill_id, contract_id, plan, Decimal(amount) if amount is not None else None)


def rows(engine: Engine) -> dict[str, Any]:
    with engine.database.connect() as connection:
        counted = {
            table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (charging_operations, account_operations, notifications, refills, counters)
        }
    return {"rows": counted, "balance": balance(engine)}


def call_cost(engine: Engine, minutes: int, *, at_: Any = None) -> Decimal:
    item = ChargeableItem("call", at_ or engine.now(), "mobile", "ann-msisdn", {"duration": str(60 * minutes)})
    result = engine.charge(item)
    assert result.charged_items is not None
    return sum((line.amount for line in result.charged_items), Decimal(0))


@pytest.fixture
def world(engine: Engine) -> Engine:
    build(engine, "monthly", balance="10.00")
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "mobile", "user_id": "ann-msisdn", "contract_id": "ann-contract", "valid_from": STARTED.isoformat()}
        )
    )
    return engine


def test_a_refill_credits_the_prepaid_balance_and_adds_bonus_units_that_expire(world: Engine) -> None:
    result = world.refill(topup("20.00"))

    assert (result.amount, result.balance_after, result.account_id, result.replayed) == ("20.00", "30.00", "ann-prepaid", False)
    assert balance(world) == Decimal("30.00")
    assert result.bonus is not None
    assert (result.bonus.counter, result.bonus.contract_item_id, result.bonus.value_after, result.bonus.unit) == (
        "bonus_minutes",
        "monthly",
        "30",
        "minutes",
    )
    assert result.bonus.expires_at == NOW + timedelta(days=10)
    assert [note.kind for note in result.notifications] == ["refill_applied"]
    [operation] = world.account_operations("ann-prepaid")[-1:]
    assert (operation.kind, operation.amount) == ("refill", Decimal("20.00"))


def test_bonus_minutes_are_used_by_rating_until_they_expire(world: Engine, clock: FixedClock) -> None:
    # Written against rating's honouring of a counter's expires_at (rating/rate.py).
    world.refill(topup("20.00"))

    assert call_cost(world, 2) == Decimal("0.00")  # 2 of the 30 bonus minutes
    clock.advance(days=10)
    assert call_cost(world, 2) == Decimal("1.20")  # the bonus lapsed: 2 minutes at 0.60


def test_a_later_expiry_already_on_the_counter_is_kept(world: Engine, clock: FixedClock) -> None:
    first = world.refill(topup("20.00"))
    clock.advance(hours=1)

    second = world.refill(topup("5.00", refill_id="r-2", plan="short_topup"))

    assert first.bonus is not None and second.bonus is not None
    assert second.bonus.value_after == "35" and second.bonus.expires_at == first.bonus.expires_at


def test_bonus_units_go_on_top_of_the_initial_value_once_the_counter_lapsed(world: Engine, clock: FixedClock) -> None:
    world.refill(topup("5.00", refill_id="r-1", plan="short_topup"))
    clock.advance(days=2)

    later = world.refill(topup("5.00", refill_id="r-2", plan="short_topup"))

    assert later.bonus is not None and later.bonus.value_after == "5"
    assert later.bonus.expires_at == clock.now + timedelta(days=1)


def test_a_retry_with_the_same_refill_id_answers_the_first_result_and_credits_nothing_more(world: Engine) -> None:
    first = world.refill(topup("20.00"))
    before = rows(world)

    again = world.refill(topup("20.000"))

    assert again.replayed and again.model_copy(update={"replayed": False}) == first
    assert rows(world) == before


def test_the_same_refill_id_with_another_request_is_refused(world: Engine) -> None:
    world.refill(topup("20.00"))
    before = rows(world)

    with pytest.raises(KopekError) as refused:
        world.refill(topup("25.00"))

    assert (refused.value.category, refused.value.code) == (Category.ALREADY_EXISTS, Code.REFILL_ID_REUSED)
    assert rows(world) == before


def test_concurrent_retries_of_one_refill_credit_once(world: Engine) -> None:
    results: list[RefillResult] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        results.append(world.refill(topup("20.00")))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4 and sum(1 for result in results if not result.replayed) == 1
    assert balance(world) == Decimal("30.00")


def test_a_fixed_amount_plan_credits_its_amount_when_none_is_given(world: Engine) -> None:
    result = world.refill(topup(None, plan="fixed20"))

    assert (result.amount, result.bonus) == ("20.00", None)
    assert balance(world) == Decimal("30.00")


@pytest.mark.parametrize(
    ("command", "category", "code"),
    [
        pytest.param(topup("4.99"), Category.INVALID, Code.REFILL_AMOUNT_OUT_OF_BOUNDS, id="below-the-minimum"),
        pytest.param(topup("100.01"), Category.INVALID, Code.REFILL_AMOUNT_OUT_OF_BOUNDS, id="above-the-maximum"),
        pytest.param(topup(None), Category.INVALID, Code.REFILL_AMOUNT_OUT_OF_BOUNDS, id="no-amount-for-a-range"),
        pytest.param(topup("25.00", plan="fixed20"), Category.INVALID, Code.REFILL_AMOUNT_OUT_OF_BOUNDS, id="not-the-fixed-amount"),
        pytest.param(topup("10", plan="dollars"), Category.INVALID_CONFIGURATION, Code.CURRENCY_MISMATCH, id="currency-mismatch"),
        pytest.param(topup("10", plan="nope"), Category.PREREQUISITE_MISSING, Code.REFILL_PLAN_UNKNOWN, id="unknown-plan"),
        pytest.param(topup("10", contract_id="nobody"), Category.DOES_NOT_EXIST, Code.NOT_FOUND, id="unknown-contract"),
    ],
)
def test_a_refused_refill_changes_nothing(world: Engine, command: RefillCommand, category: Category, code: Code) -> None:
    before = rows(world)

    with pytest.raises(KopekError) as refused:
        world.refill(command)

    assert (refused.value.category, refused.value.code) == (category, code)
    assert rows(world) == before


def test_a_refill_for_a_closed_subscriber_account_is_refused_and_changes_nothing(world: Engine) -> None:
    subscriber(world, "zed", balance="1.00", status="closed")
    contract(world, "zed", "monthly")
    before = rows(world)

    with pytest.raises(KopekError) as refused:
        world.refill(topup("20.00", contract_id="zed-contract"))

    assert (refused.value.category, refused.value.reason, refused.value.code) == (
        Category.ILLEGAL_STATE,
        Reason.ACCOUNT_CLOSED,
        Code.ACCOUNT_CLOSED,
    )
    assert rows(world) == before and balance(world, "zed-prepaid") == Decimal("1.00")


def test_a_closed_account_of_an_active_subscriber_account_refuses_refills_and_a_blocked_one_takes_them(world: Engine) -> None:
    world.update_account("ann-prepaid", AccountUpdate(status=AccountStatus.CLOSED))
    before = rows(world)

    with pytest.raises(KopekError) as refused:
        world.refill(topup("20.00"))

    assert (refused.value.reason, refused.value.code) == (Reason.ACCOUNT_CLOSED, Code.ACCOUNT_CLOSED)
    assert rows(world) == before
    world.update_account("ann-prepaid", AccountUpdate(status=AccountStatus.BLOCKED))
    assert world.refill(topup("20.00")).balance_after == "30.00"


def test_a_refill_for_a_migrating_contract_is_refused_then_succeeds_under_the_same_id(world: Engine) -> None:
    world.begin_migration(["ann-contract"])
    before = rows(world)

    with pytest.raises(KopekError) as refused:
        world.refill(topup("20.00"))

    assert (refused.value.category, refused.value.code) == (Category.TEMPORARY_ILLEGAL_STATE, Code.CONTRACT_MIGRATING)
    assert rows(world) == before
    world.end_migration(["ann-contract"])
    assert not world.refill(topup("20.00")).replayed


def test_a_refill_lets_a_suspended_fee_be_charged_by_the_next_run(world: Engine) -> None:
    world.run_fees(NOW)
    assert world.activations("ann-contract")[0].status == "suspended"  # 10.00 cannot cover January's 16.45

    world.refill(topup("100.00", refill_id="r-1"))
    world.refill(topup("100.00", refill_id="r-2"))
    report = world.run_fees(NOW)

    assert report.fees_applied == 6 and world.activations("ann-contract")[0].status == "active"
    assert balance(world) == Decimal("210.00") - Decimal("16.45") - 5 * Decimal("30.00") == Decimal("43.55")

"""Refills in the pure core: the plan's bounds, the credit, the bonus counter and its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from rating_support import load_catalog

from kopek import limits
from kopek.domain.accounts import OperationKind
from kopek.domain.catalog import CounterScope, CounterSpec, RefillBonus, RefillPlan
from kopek.domain.master import Account, AccountId, AccountKind, SubscriberAccountId, SubscriberAccountStatus
from kopek.domain.refills import StoredCounter, bonus_change, credit, refill_amount
from kopek.domain.units import Unit
from kopek.errors import Category, Code, InvalidError, KopekError
from kopek.rating.outcome import CounterKey

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = CounterKey("c", "item", "bonus", CounterScope.CONTRACT_ITEM)
SPEC = CounterSpec(name="bonus", unit=Unit.MINUTES)
BONUS = RefillBonus(counter="bonus", units=Decimal(30), expires_after_days=10)


def plan(**fields: Any) -> RefillPlan:
    return RefillPlan.model_validate({"name": "topup", "currency": "EUR", **fields})


def account(**fields: Any) -> Account:
    values: dict[str, Any] = {
        "id": AccountId("a"),
        "subscriber_account_id": SubscriberAccountId("s"),
        "kind": AccountKind.PREPAID,
        "currency": "EUR",
        "balance": Decimal("1.00"),
    }
    return Account(**(values | fields))


@pytest.mark.parametrize(
    ("fields", "requested", "expected"),
    [
        pytest.param({"min_amount": "5", "max_amount": "100"}, "5", "5", id="the-minimum-is-allowed"),
        pytest.param({"min_amount": "5", "max_amount": "100"}, "100", "100", id="the-maximum-is-allowed"),
        pytest.param({}, "0.01", "0.01", id="no-bounds-any-positive-amount"),
        pytest.param({"amount": "20"}, None, "20", id="fixed-amount-by-default"),
        pytest.param({"amount": "20"}, "20.00", "20", id="fixed-amount-repeated"),
    ],
)
def test_the_refill_amount_is_within_the_plans_bounds(fields: dict[str, Any], requested: str | None, expected: str) -> None:
    assert refill_amount(plan(**fields), Decimal(requested) if requested else None) == Decimal(expected)


@pytest.mark.parametrize(
    ("fields", "requested"),
    [
        pytest.param({"min_amount": "5", "max_amount": "100"}, "4.99", id="below-the-minimum"),
        pytest.param({"min_amount": "5", "max_amount": "100"}, "100.01", id="above-the-maximum"),
        pytest.param({}, "0", id="zero"),
        pytest.param({}, "-5", id="negative"),
        pytest.param({}, None, id="missing"),
        pytest.param({"amount": "20"}, "21", id="not-the-fixed-amount"),
    ],
)
def test_an_amount_outside_the_plans_bounds_is_invalid(fields: dict[str, Any], requested: str | None) -> None:
    with pytest.raises(InvalidError) as refused:
        refill_amount(plan(**fields), Decimal(requested) if requested else None)
    assert refused.value.code is Code.REFILL_AMOUNT_OUT_OF_BOUNDS


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"amount": "20", "min_amount": "5"}, "a fixed amount or amount bounds, not both", id="fixed-and-bounds"),
        pytest.param({"min_amount": "50", "max_amount": "5"}, "min_amount is above max_amount", id="bounds-reversed"),
        pytest.param({"bonus": {"counter": "b", "units": 1, "expires_after_days": 0}}, "greater than or equal to 1", id="no-days"),
        pytest.param(
            {"bonus": {"counter": "b", "units": 1, "expires_after_days": limits.REFILL_BONUS_DAYS_MAX + 1}},
            "less than or equal to 3660",
            id="days-past-the-bound",
        ),
    ],
)
def test_an_inconsistent_refill_plan_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        plan(**fields)


def test_a_bonus_may_last_the_bound_of_days() -> None:
    assert plan(bonus={"counter": "b", "units": 1, "expires_after_days": limits.REFILL_BONUS_DAYS_MAX}).bonus is not None


def test_a_credit_adds_to_the_prepaid_balance_as_a_refill_operation() -> None:
    after, operation = credit(plan(), account(), Decimal("20.00"))

    assert after.balance == Decimal("21.00")
    assert (operation.kind, operation.amount, operation.balance_after) == (OperationKind.REFILL, Decimal("20.00"), Decimal("21.00"))


@pytest.mark.parametrize(
    ("fields", "category", "code"),
    [
        pytest.param({"holder_status": SubscriberAccountStatus.CLOSED}, Category.ILLEGAL_STATE, Code.ACCOUNT_CLOSED, id="closed"),
        pytest.param({"currency": "USD"}, Category.INVALID_CONFIGURATION, Code.CURRENCY_MISMATCH, id="currency"),
        pytest.param({"kind": AccountKind.POSTPAID}, Category.INCOMPATIBLE_CONFIGURATION, Code.REFILL_ACCOUNT_NOT_PREPAID, id="postpaid"),
    ],
)
def test_a_credit_is_refused_for_a_closed_foreign_or_postpaid_account(fields: dict[str, Any], category: Category, code: Code) -> None:
    with pytest.raises(KopekError) as refused:
        credit(plan(), account(**fields), Decimal("20.00"))
    assert (refused.value.category, refused.value.code) == (category, code)


def test_a_blocked_subscriber_account_may_be_refilled() -> None:
    assert credit(plan(), account(holder_status=SubscriberAccountStatus.BLOCKED), Decimal(1))[0].balance == Decimal("2.00")


def test_bonus_units_start_from_the_initial_value_of_a_new_counter() -> None:
    change = bonus_change(KEY, SPEC, None, BONUS, NOW)

    assert (change.before, change.after, change.expires_at) == (Decimal(0), Decimal(30), NOW + timedelta(days=10))


def test_bonus_units_add_to_a_live_value_and_keep_a_later_expiry() -> None:
    later = NOW + timedelta(days=20)

    change = bonus_change(KEY, SPEC, StoredCounter(Decimal(12), None, later), BONUS, NOW)

    assert (change.after, change.expires_at) == (Decimal(42), later)


def test_an_earlier_expiry_is_pushed_to_the_new_bonus_expiry() -> None:
    change = bonus_change(KEY, SPEC, StoredCounter(Decimal(12), None, NOW + timedelta(days=1)), BONUS, NOW)

    assert (change.after, change.expires_at) == (Decimal(42), NOW + timedelta(days=10))


def test_a_lapsed_value_is_replaced_by_the_initial_value_before_the_bonus() -> None:
    change = bonus_change(KEY, SPEC, StoredCounter(Decimal(12), None, NOW), BONUS, NOW)

    assert (change.before, change.after) == (Decimal(12), Decimal(30))


def test_a_value_of_an_ended_reset_period_is_replaced_by_the_initial_value() -> None:
    monthly = CounterSpec(name="bonus", unit=Unit.MINUTES, initial=Decimal(5), reset="monthly")  # type: ignore[arg-type]
    stored = StoredCounter(Decimal(2), datetime(2026, 5, 1, tzinfo=UTC), None)

    change = bonus_change(KEY, monthly, stored, BONUS, NOW)

    assert (change.after, change.period_start) == (Decimal(35), datetime(2026, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("counters", "message"),
    [
        pytest.param("[]", "no charge plan declares the bonus counter 'bonus'", id="undeclared"),
        pytest.param(
            "[{name: bonus, unit: minutes, scope: transient}]",
            "bonus counter 'bonus' must have scope contract or contract_item",
            id="transient",
        ),
    ],
)
def test_a_bonus_counter_must_be_declared_by_a_plan_with_a_contract_or_item_scope(counters: str, message: str) -> None:
    text = f"""
charge_plans:
  - name: p
    currency: EUR
    counters: {counters}
    fees: [{{name: f, period: daily, amount: 1}}]
refill_plans:
  - {{name: r, currency: EUR, bonus: {{counter: bonus, units: 1, expires_after_days: 1}}}}
"""
    with pytest.raises(InvalidError) as refused:
        load_catalog(text)
    assert [detail.message for detail in refused.value.details] == [message]
    assert next(detail.location for detail in refused.value.details)[-4:] == ("refill_plans", 0, "bonus", "counter")


def test_refill_plan_names_are_unique() -> None:
    text = "refill_plans: [{name: r, currency: EUR}, {name: r, currency: EUR}]"
    with pytest.raises(InvalidError) as refused:
        load_catalog(text)
    assert [detail.message for detail in refused.value.details] == ["refill plan 'r' is defined more than once"]

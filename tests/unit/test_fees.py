"""Fees in the pure core: the catalog record, the due periods, pro-rating of a partial first period, statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from rating_support import load_catalog

from kopek import limits
from kopek.domain.activations import ActivationStatus
from kopek.domain.catalog import Fee
from kopek.domain.fees import due_periods, due_starts, first_period_days, prorated_amount, settled_status
from kopek.domain.master import Contract, ContractId, SubscriberAccountId
from kopek.domain.periods import Cycle, Period
from kopek.errors import InvalidError

STARTED = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def fee(**fields: Any) -> Fee:
    return Fee.model_validate({"name": "fee", "amount": "30.00", **fields})


def contract(valid_from: datetime = STARTED, valid_to: datetime | None = None) -> Contract:
    return Contract(ContractId("c"), SubscriberAccountId("s"), valid_from, valid_to)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"kind": "recurring"}, "a recurring fee needs a period", id="recurring-without-period"),
        pytest.param({"kind": "one_off", "period": "monthly"}, "a one-off fee has no period", id="one-off-with-period"),
        pytest.param({"kind": "one_off", "proration": "daily"}, "a one-off fee has no period to prorate", id="one-off-prorated"),
        pytest.param({"period": "daily", "anchor_day": 3}, "anchor_day applies to monthly and weekly", id="daily-with-anchor"),
        pytest.param({"period": "weekly", "anchor_day": 8}, "ISO weekday", id="weekly-anchor-past-sunday"),
        pytest.param({"period": "monthly", "time_zone": "Mars/Olympus"}, "unknown time zone", id="unknown-zone"),
        pytest.param({"period": "monthly", "amount": "-1"}, "greater than or equal to 0", id="negative-amount"),
    ],
)
def test_an_inconsistent_fee_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fee(**fields)


def test_a_plan_holds_at_most_the_bound_of_fees() -> None:
    fees = "".join(f"      - {{name: f{index}, period: daily, amount: 1}}\n" for index in range(limits.PLAN_FEES_MAX + 1))
    plan = f"charge_plans:\n  - name: p\n    currency: EUR\n    fees:\n{fees}"
    with pytest.raises(InvalidError) as refused:
        load_catalog(plan)
    assert [detail.message for detail in refused.value.details] == [
        f"Tuple should have at most {limits.PLAN_FEES_MAX} items after validation, not 65"
    ]
    assert len(load_catalog(plan.rsplit("      - ", 1)[0]).charge_plans[0].fees) == limits.PLAN_FEES_MAX


def test_a_plan_with_fees_only_is_valid_and_duplicate_fee_names_are_refused() -> None:
    plan = "charge_plans:\n  - name: p\n    currency: EUR\n    fees:\n      - {name: f, period: daily, amount: 1}\n"
    assert load_catalog(plan).charge_plans[0].fees[0].name == "f"
    with pytest.raises(InvalidError) as refused:
        load_catalog(plan + "      - {name: f, kind: one_off, amount: 2}\n")
    assert [detail.message for detail in refused.value.details] == ["fee 'f' is defined more than once"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"period": "monthly"}, Cycle(Period.MONTHLY, ZoneInfo("UTC"), 15), id="monthly-on-the-start-day"),
        pytest.param({"period": "monthly", "anchor_day": 1}, Cycle(Period.MONTHLY, ZoneInfo("UTC"), 1), id="monthly-anchored"),
        pytest.param({"period": "weekly"}, Cycle(Period.WEEKLY, ZoneInfo("UTC"), 4), id="weekly-on-the-start-weekday"),
        pytest.param({"period": "daily"}, Cycle(Period.DAILY, ZoneInfo("UTC"), 1), id="daily"),
        pytest.param(
            {"period": "monthly", "time_zone": "Pacific/Kiritimati"},
            Cycle(Period.MONTHLY, ZoneInfo("Pacific/Kiritimati"), 16),
            id="start-day-in-the-fees-zone",
        ),
        pytest.param({"kind": "one_off"}, None, id="one-off-has-none"),
    ],
)
def test_a_fees_cycle_is_anchored_on_the_origins_local_day_unless_it_names_one(fields: dict[str, Any], expected: Cycle | None) -> None:
    assert fee(**fields).cycle(STARTED) == expected


def test_the_first_period_days_count_local_days_from_the_start_day() -> None:
    cycle = Cycle(Period.MONTHLY, ZoneInfo("UTC"), 1)

    assert first_period_days(cycle, STARTED) == (17, 31)  # 15..31 January of 31 days
    assert first_period_days(cycle, utc(2028, 2, 29, 23)) == (1, 29)  # the last day of a leap February


def test_a_partial_first_month_costs_the_days_used() -> None:
    monthly = fee(period="monthly", anchor_day=1, proration="daily")

    periods = due_periods(monthly, contract(), None, utc(2026, 3, 1))

    # 30.00 × 17 / 31 = 16.4516... → 16.45, then two whole months.
    assert [(period.start, period.amount, period.days_used) for period in periods] == [
        (STARTED, Decimal("16.45"), 17),
        (utc(2026, 2, 1), Decimal("30.00"), None),
        (utc(2026, 3, 1), Decimal("30.00"), None),
    ]


def test_without_proration_the_first_period_costs_the_whole_amount() -> None:
    monthly = fee(period="monthly", anchor_day=1)

    assert due_periods(monthly, contract(), None, utc(2026, 1, 31))[0].amount == Decimal("30.00")


def test_a_first_period_that_starts_on_the_anchor_day_is_whole() -> None:
    monthly = fee(period="monthly", anchor_day=15, proration="daily")

    assert due_periods(monthly, contract(), None, utc(2026, 1, 31))[0].prorated is False


@pytest.mark.parametrize(
    ("mode", "expected"),
    [pytest.param("half_up", Decimal("16.45"), id="half-up"), pytest.param("up", Decimal("16.46"), id="up")],
)
def test_the_prorated_amount_is_rounded_by_the_fees_rounding(mode: str, expected: Decimal) -> None:
    rounded = fee(period="monthly", proration="daily", rounding={"decimals": 2, "mode": mode})

    assert prorated_amount(Decimal("30.00"), 17, 31, rounded) == expected


@given(used=st.integers(min_value=1, max_value=31), total=st.integers(min_value=1, max_value=31))
def test_a_prorated_amount_never_exceeds_the_whole_amount(used: int, total: int) -> None:
    if used > total:
        used, total = total, used
    amount = prorated_amount(Decimal("30.00"), used, total, fee(period="monthly", proration="daily"))
    assert Decimal(0) < amount <= Decimal("30.00")


def test_due_starts_follow_the_last_charged_period() -> None:
    weekly = fee(period="weekly")

    assert due_starts(weekly, contract(), None, utc(2026, 1, 29)) == [STARTED, utc(2026, 1, 22), utc(2026, 1, 29)]
    assert due_starts(weekly, contract(), utc(2026, 1, 22), utc(2026, 1, 29)) == [utc(2026, 1, 29)]
    assert due_starts(weekly, contract(), utc(2026, 1, 29), utc(2026, 1, 29)) == []


def test_no_period_is_due_from_the_contracts_end_or_before_its_start() -> None:
    daily = fee(period="daily")

    assert due_starts(daily, contract(valid_to=utc(2026, 1, 17)), None, utc(2026, 2, 1)) == [STARTED, utc(2026, 1, 16)]
    assert due_starts(daily, contract(), None, utc(2026, 1, 15, 9)) == []


def test_a_one_off_fee_is_due_once_at_the_contracts_start() -> None:
    once = fee(kind="one_off")

    assert due_starts(once, contract(), None, utc(2030, 1, 1)) == [STARTED]
    assert due_starts(once, contract(), STARTED, utc(2030, 1, 1)) == []


def test_a_monthly_fee_on_the_31st_falls_on_the_last_day_of_shorter_months() -> None:
    monthly = fee(period="monthly", anchor_day=31)

    starts = due_starts(monthly, contract(utc(2026, 1, 31)), None, utc(2026, 4, 30))

    assert starts == [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31), utc(2026, 4, 30)]


def test_a_monthly_fee_starts_at_local_midnight_in_its_time_zone() -> None:
    monthly = fee(period="monthly", anchor_day=1, time_zone="Europe/Paris")

    starts = due_starts(monthly, contract(), None, utc(2026, 4, 1))

    # Midnight in Paris is 23:00 UTC the day before in winter, 22:00 in summer.
    assert starts == [STARTED, utc(2026, 1, 31, 23), utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)]


@pytest.mark.parametrize(
    ("fees", "applied", "valid_to", "expected"),
    [
        pytest.param((fee(period="daily"),), {"fee": STARTED}, None, ActivationStatus.ACTIVE, id="recurring-goes-on"),
        pytest.param((fee(period="daily"),), {"fee": STARTED}, utc(2026, 2, 1), ActivationStatus.EXPIRED, id="contract-ended"),
        pytest.param((fee(kind="one_off"),), {"fee": STARTED}, None, ActivationStatus.EXPIRED, id="one-off-charged"),
        pytest.param((fee(kind="one_off"),), {}, None, ActivationStatus.ACTIVE, id="one-off-not-yet-charged"),
    ],
)
def test_an_activation_expires_when_nothing_can_be_due_any_more(
    fees: tuple[Fee, ...], applied: dict[str, datetime], valid_to: datetime | None, expected: ActivationStatus
) -> None:
    assert settled_status(fees, contract(valid_to=valid_to), applied, utc(2026, 3, 1)) is expected

"""The maximum affordable quantity: the grant fits what is available and one more step does not."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.rating_support import contract, rate, tariff, typed

from kopek.rating.quota import grid_step, max_affordable

PER_MINUTE_AFTER_ALLOWANCE = """
type: allowance
counter: free
then:
  type: sum
  parts:
    - {type: connect_fee, amount: "0.10"}
    - {type: rate, amount: "0.60", unit: minutes, increment: 1}
"""
FREE_SECONDS = "[{name: free, scope: contract_item, unit: seconds, initial: 30}]"
CATALOG = tariff(PER_MINUTE_AFTER_ALLOWANCE, counters=FREE_SECONDS, charge="rounding: {decimals: 2, mode: half_up}")


def price(seconds: Decimal) -> Decimal:
    (charged,) = rate(CATALOG, {"duration": str(seconds)}).charged_items
    return charged.amount


def test_grid_step_is_the_rate_increment_in_the_item_unit() -> None:
    assert grid_step(CATALOG, contract("plan"), typed(CATALOG, "call", {"duration": "0"})) == Decimal(60)


def test_worked_example_three_euros_buy_four_minutes_and_the_free_half_minute() -> None:
    # 30 s free, then 0.10 + 0.60 per started minute: 4 minutes cost 2.50, 5 minutes 3.10.
    granted = max_affordable(lambda seconds: price(seconds) <= Decimal("3.00"), step=Decimal(60), limit=Decimal(6000))
    assert granted == Decimal(240)
    assert price(granted) == Decimal("2.50")


def test_nothing_fits_grants_zero() -> None:
    assert max_affordable(lambda seconds: price(seconds) <= Decimal("0.05"), step=Decimal(60), limit=Decimal(600)) == 0


@settings(max_examples=60, deadline=None)
@given(
    available=st.decimals(min_value=0, max_value=50, places=2),
    steps_max=st.integers(min_value=1, max_value=500),
)
def test_granted_quantity_is_affordable_and_one_more_step_is_not(available: Decimal, steps_max: int) -> None:
    step = Decimal(60)
    limit = step * steps_max

    def fits(seconds: Decimal) -> bool:
        return price(seconds) <= available

    granted = max_affordable(fits, step=step, limit=limit)
    assert granted % step == 0 and 0 <= granted <= limit
    if granted > 0:
        assert fits(granted)
    if granted + step <= limit:
        assert not fits(granted + step)


@given(
    unit_price=st.decimals(min_value=Decimal("0.001"), max_value=10, places=3),
    available=st.decimals(min_value=0, max_value=1000, places=3),
)
def test_linear_price_grant_is_the_floor_of_available_over_unit_price(unit_price: Decimal, available: Decimal) -> None:
    granted = max_affordable(lambda quantity: quantity * unit_price <= available, step=Decimal(1), limit=Decimal(1_000_000))
    assert granted == min(Decimal(1_000_000), (available / unit_price).to_integral_value(rounding="ROUND_FLOOR"))


def test_grid_step_sees_rates_inside_schedule_discount_and_cap() -> None:
    node = """
    type: schedule
    time_zone: Europe/Paris
    windows:
      - {from: "08:00", to: "20:00", price: {type: discount, percent: 10, price: {type: rate, amount: 1, unit: minutes, increment: 1}}}
      - {price: {type: cap, maximum: 5, price: {type: rate, amount: 1, unit: minutes, increment: 2}}}
    """
    catalog = tariff(node)

    assert grid_step(catalog, contract("plan"), typed(catalog, "call", {"duration": "0"})) == Decimal(60)


def test_a_limit_that_fits_is_granted_after_one_price_evaluation() -> None:
    asked: list[Decimal] = []

    def fits(seconds: Decimal) -> bool:
        asked.append(seconds)
        return price(seconds) <= Decimal("100.00")

    assert max_affordable(fits, step=Decimal(60), limit=Decimal(600)) == Decimal(600)
    assert asked == [Decimal(600)]


@given(available=st.decimals(min_value=0, max_value=50, places=2), steps_max=st.integers(min_value=1, max_value=500))
@settings(max_examples=60, deadline=None)
def test_the_search_asks_about_each_quantity_once_and_about_few(available: Decimal, steps_max: int) -> None:
    asked: list[Decimal] = []

    def fits(seconds: Decimal) -> bool:
        asked.append(seconds)
        return price(seconds) <= available

    max_affordable(fits, step=Decimal(60), limit=Decimal(60 * steps_max))
    assert len(asked) == len(set(asked))
    assert len(asked) <= 2 * steps_max.bit_length() + 2


def test_grid_steps_are_kept_per_catalog() -> None:
    by_two_minutes = tariff("{type: rate, amount: 1, unit: minutes, increment: 2}")
    by_second = tariff("{type: rate, amount: 1, unit: seconds, increment: 1}")

    for _ in range(2):
        assert grid_step(by_two_minutes, contract("plan"), typed(by_two_minutes, "call", {"duration": "0"})) == Decimal(120)
        assert grid_step(by_second, contract("plan"), typed(by_second, "call", {"duration": "0"})) == Decimal(1)

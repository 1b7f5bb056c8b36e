"""The ``discount`` and ``cap`` nodes, and counters that hold money (unit ``amount``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rating_support import amount, counters_after, load_catalog, rate, tariff

from kopek.errors import Code, KopekError
from kopek.rating.outcome import NotificationKind

RATE_PER_MINUTE = "{type: rate, amount: 0.60, unit: minutes}"


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        pytest.param("0", "1.2000", id="nothing_off"),
        pytest.param("25", "0.9000", id="a_quarter_off"),
        pytest.param("12.5", "1.0500", id="fractional_percent"),
        pytest.param("100", "0.0000", id="free"),
    ],
)
def test_discount_takes_a_percentage_off_its_subtree(percent: str, expected: str) -> None:
    catalog = tariff(f"{{type: discount, percent: {percent}, price: {{type: connect_fee, amount: 0.60, then: {RATE_PER_MINUTE}}}}}")

    assert amount(rate(catalog, {"duration": 60})) == Decimal(expected)


def test_discount_inside_a_sum_applies_to_its_part_only() -> None:
    catalog = tariff(f"{{type: sum, parts: [{{type: flat, amount: 1}}, {{type: discount, percent: 50, price: {RATE_PER_MINUTE}}}]}}")

    assert amount(rate(catalog, {"duration": 120})) == Decimal("1.6000")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(60, "0.6000", id="below_the_cap"),
        pytest.param(600, "2.0000", id="capped"),
    ],
)
def test_cap_per_item(seconds: int, expected: str) -> None:
    catalog = tariff(f"{{type: cap, maximum: 2, price: {RATE_PER_MINUTE}}}")

    outcome = rate(catalog, {"duration": seconds})

    assert amount(outcome) == Decimal(expected)
    assert outcome.notifications == ()


CAP_ON_A_COUNTER = f"{{type: cap, maximum: 10, counter: spent, price: {RATE_PER_MINUTE}}}"
SPENT = "[{name: spent, unit: amount}]"


@pytest.mark.parametrize(
    ("spent", "seconds", "expected", "spent_after", "reached"),
    [
        pytest.param("0", 600, "6.0000", "6.00", False, id="well_below"),
        pytest.param("6", 600, "4.0000", "10", True, id="reaches_the_cap"),
        pytest.param("6", 400, "4.0000", "10.00", True, id="reaches_it_exactly"),
        pytest.param("10", 600, "0.0000", None, False, id="already_reached_costs_nothing_and_is_not_told_again"),
        pytest.param("12", 600, "0.0000", None, False, id="above_the_cap"),
    ],
)
def test_cap_on_a_counter_lets_through_up_to_the_maximum(
    spent: str, seconds: int, expected: str, spent_after: str | None, reached: bool
) -> None:
    outcome = rate(tariff(CAP_ON_A_COUNTER, counters=SPENT), {"duration": seconds}, counters={"spent": spent})

    assert amount(outcome) == Decimal(expected)
    assert counters_after(outcome).get("spent") == (Decimal(spent_after) if spent_after is not None else None)
    assert [notification.kind for notification in outcome.notifications] == ([NotificationKind.CAP_REACHED] if reached else [])


@pytest.mark.parametrize(
    ("price", "counters", "fault"),
    [
        pytest.param(
            "{type: cap, maximum: 1, counter: calls, price: {type: flat, amount: 1}}",
            "[{name: calls, unit: events}]",
            "cap counter 'calls' is in events, not in amount",
            id="counter_not_in_amount",
        ),
        pytest.param(
            "{type: cap, maximum: 1, counter: nope, price: {type: flat, amount: 1}}", "[]", "unknown counter 'nope'", id="unknown"
        ),
        pytest.param("{type: cap, maximum: -1, price: {type: flat, amount: 1}}", "[]", "greater than or equal to 0", id="negative_maximum"),
        pytest.param("{type: discount, percent: 101, price: {type: flat, amount: 1}}", "[]", "less than or equal to 100", id="over_100"),
        pytest.param(
            "{type: allowance, counter: money, then: {type: flat, amount: 1}}",
            "[{name: money, unit: amount}]",
            "allowance counter 'money' is in amount, not in the quantity's dimension",
            id="amount_counter_is_no_allowance",
        ),
    ],
)
def test_discount_and_cap_faults_are_found_on_load(price: str, counters: str, fault: str) -> None:
    with pytest.raises(KopekError) as caught:
        tariff(price, counters=counters)

    assert caught.value.code is Code.CATALOG_INVALID
    assert any(fault in detail.message for detail in caught.value.details)


def test_a_quantity_cannot_be_money() -> None:
    text = """\
        item_classes:
          - name: payment
            quantity: value
            properties: [{name: value, type: decimal, unit: amount}]
    """

    with pytest.raises(KopekError) as caught:
        load_catalog(text)

    assert [detail.message for detail in caught.value.details] == ["the quantity property is usage, not money: its unit cannot be amount"]

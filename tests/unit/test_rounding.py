"""Rounding of a charge's amount in every mode, and the one entry point for numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rating_support import amount, rate, tariff

from kopek.money import NotADecimalError, RoundingMode, quantize, to_decimal

# Each row: the exact amount, then the amount rounded to 2 decimals in each mode.
# up = away from zero, down = toward zero, ceiling = toward +∞, floor = toward −∞;
# half_up sends a tie away from zero, half_even to the even last digit.
ROUNDING_TABLE = {
    "1.005": {"half_up": "1.01", "half_even": "1.00", "up": "1.01", "down": "1.00", "ceiling": "1.01", "floor": "1.00"},
    "1.015": {"half_up": "1.02", "half_even": "1.02", "up": "1.02", "down": "1.01", "ceiling": "1.02", "floor": "1.01"},
    "1.001": {"half_up": "1.00", "half_even": "1.00", "up": "1.01", "down": "1.00", "ceiling": "1.01", "floor": "1.00"},
    "1.009": {"half_up": "1.01", "half_even": "1.01", "up": "1.01", "down": "1.00", "ceiling": "1.01", "floor": "1.00"},
    "1.00": {"half_up": "1.00", "half_even": "1.00", "up": "1.00", "down": "1.00", "ceiling": "1.00", "floor": "1.00"},
    "-1.005": {"half_up": "-1.01", "half_even": "-1.00", "up": "-1.01", "down": "-1.00", "ceiling": "-1.00", "floor": "-1.01"},
    "-1.015": {"half_up": "-1.02", "half_even": "-1.02", "up": "-1.02", "down": "-1.01", "ceiling": "-1.01", "floor": "-1.02"},
    "-1.001": {"half_up": "-1.00", "half_even": "-1.00", "up": "-1.01", "down": "-1.00", "ceiling": "-1.00", "floor": "-1.01"},
    "-1.009": {"half_up": "-1.01", "half_even": "-1.01", "up": "-1.01", "down": "-1.00", "ceiling": "-1.00", "floor": "-1.01"},
}
ROUNDING_CASES = [
    pytest.param(exact, mode, rounded, id=f"{exact}-{mode}") for exact, row in ROUNDING_TABLE.items() for mode, rounded in row.items()
]


def test_the_table_covers_every_rounding_mode() -> None:
    assert all(set(row) == {mode.value for mode in RoundingMode} for row in ROUNDING_TABLE.values())


@pytest.mark.parametrize(("exact", "mode", "rounded"), ROUNDING_CASES)
def test_a_charge_rounds_its_amount_with_its_mode(exact: str, mode: str, rounded: str) -> None:
    catalog = tariff(f"{{type: flat, amount: '{exact}'}}", charge=f"rounding: {{decimals: 2, mode: {mode}}}")

    charged = amount(rate(catalog, {"duration": "60"}))

    assert charged == Decimal(rounded)
    assert charged.as_tuple().exponent == -2


@pytest.mark.parametrize(("exact", "mode", "rounded"), ROUNDING_CASES)
def test_quantize_rounds_with_the_named_mode(exact: str, mode: str, rounded: str) -> None:
    assert quantize(Decimal(exact), decimals=2, mode=RoundingMode(mode)) == Decimal(rounded)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param("half_up", "1.01", id="half-up"),
        pytest.param("half_even", "1.00", id="half-even"),
    ],
)
def test_a_rated_tie_is_rounded_by_the_charges_mode(mode: str, expected: str) -> None:
    catalog = tariff("{type: rate, amount: 0.67, unit: minutes}", charge=f"rounding: {{decimals: 2, mode: {mode}}}")

    # 90 s = 1.5 min × 0.67 = 1.005 exactly, a tie at 2 decimals.
    assert amount(rate(catalog, {"duration": "90"})) == Decimal(expected)


def test_rounding_applies_only_to_the_final_amount_of_a_charge() -> None:
    catalog = tariff(
        """
        type: sum
        parts:
          - {type: flat, amount: 0.004}
          - {type: flat, amount: 0.004}
          - {type: flat, amount: 0.004}
        """,
        charge="rounding: {decimals: 2, mode: half_up}",
    )

    # 0.004 × 3 = 0.012 → 0.01; rounding each part first would give 0.00.
    assert amount(rate(catalog, {"duration": "60"})) == Decimal("0.01")


def test_rounding_applies_only_once_across_tier_bands() -> None:
    catalog = tariff(
        """
        type: tiers
        bands:
          - up_to: 1
            price: {type: rate, amount: 0.005, unit: seconds}
          - price: {type: rate, amount: 0.005, unit: seconds}
        """,
        charge="rounding: {decimals: 2, mode: half_even}",
    )

    # 1 s × 0.005 + 1 s × 0.005 = 0.010 → 0.01; rounding each band (0.00 + 0.00) would give 0.00.
    assert amount(rate(catalog, {"duration": "2"})) == Decimal("0.01")


@pytest.mark.parametrize(
    ("decimals", "expected"),
    [
        pytest.param(0, "2", id="no-decimals"),
        pytest.param(2, "1.50", id="two-decimals"),
        pytest.param(5, "1.50000", id="five-decimals"),
    ],
)
def test_a_charge_is_rounded_to_its_number_of_decimals(decimals: int, expected: str) -> None:
    catalog = tariff("{type: flat, amount: 1.5}", charge=f"rounding: {{decimals: {decimals}, mode: half_up}}")

    charged = amount(rate(catalog, {"duration": "60"}))

    assert str(charged) == expected


def test_a_charge_without_rounding_rounds_half_up_to_two_decimals() -> None:
    catalog = tariff("{type: flat, amount: 0.125}", charge="rounding: {}")

    assert str(amount(rate(catalog, {"duration": "60"}))) == "0.13"


# ---- to_decimal -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0.10", "0.10", id="text-keeps-its-exponent"),
        pytest.param(" 12.5 ", "12.5", id="text-with-spaces"),
        pytest.param("-3", "-3", id="negative-text"),
        pytest.param("1e3", "1E+3", id="text-with-exponent"),
        pytest.param(7, "7", id="integer"),
        pytest.param(Decimal("0.333"), "0.333", id="decimal"),
    ],
)
def test_to_decimal_reads_text_integers_and_decimals_exactly(value: object, expected: str) -> None:
    result = to_decimal(value)

    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0.1, id="float"),
        pytest.param(1.0, id="integral-float"),
        pytest.param(float("inf"), id="float-infinity"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
        pytest.param(Decimal("sNaN"), id="decimal-signalling-nan"),
        pytest.param(Decimal("Infinity"), id="decimal-infinity"),
        pytest.param(Decimal("-Infinity"), id="decimal-negative-infinity"),
        pytest.param("NaN", id="text-nan"),
        pytest.param("inf", id="text-infinity"),
        pytest.param("-Infinity", id="text-negative-infinity"),
        pytest.param("", id="empty-text"),
        pytest.param("ten", id="word"),
        pytest.param("1,5", id="decimal-comma"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
    ],
)
def test_to_decimal_refuses_anything_inexact_or_not_finite(value: object) -> None:
    with pytest.raises(NotADecimalError):
        to_decimal(value)


def test_not_a_decimal_is_a_value_error() -> None:
    assert issubclass(NotADecimalError, ValueError)

"""Each currency has a scale: ISO 4217's minor unit unless the catalog declares another."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kopek.domain.currencies import ISO_4217_DECIMALS, currency_decimals, entered_amount
from kopek.errors import Code, InvalidError


@pytest.mark.parametrize(
    ("code", "decimals"),
    [
        pytest.param("EUR", 2, id="euro"),
        pytest.param("USD", 2, id="dollar"),
        pytest.param("JPY", 0, id="yen"),
        pytest.param("KWD", 3, id="kuwaiti-dinar"),
        pytest.param("CLF", 4, id="unidad-de-fomento"),
        pytest.param("XAU", None, id="gold-has-no-minor-unit"),
    ],
)
def test_the_iso_4217_minor_units_are_the_default_scales(code: str, decimals: int | None) -> None:
    assert ISO_4217_DECIMALS[code] == decimals
    assert currency_decimals(code, {}) == decimals


def test_the_table_lists_every_active_iso_4217_code_once() -> None:
    assert len(ISO_4217_DECIMALS) == 178
    assert all(len(code) == 3 and code.isupper() for code in ISO_4217_DECIMALS)


def test_a_declared_scale_wins_over_iso_4217() -> None:
    assert currency_decimals("EUR", {"EUR": 6}) == 6
    assert currency_decimals("PTS", {"PTS": 0}) == 0
    assert currency_decimals("PTS", {}) is None


@pytest.mark.parametrize(
    ("amount", "currency", "declared", "kept"),
    [
        pytest.param("10.50", "EUR", {}, "10.50", id="as-many-places"),
        pytest.param("10.5", "EUR", {}, "10.5", id="fewer-places-kept-as-given"),
        pytest.param("10.500", "EUR", {}, "10.50", id="trailing-zeros-dropped"),
        pytest.param("-3.1000", "KWD", {}, "-3.100", id="three-places"),
        pytest.param("12", "JPY", {}, "12", id="whole-yen"),
        pytest.param("10.23456", "EUR", {"EUR": 5}, "10.23456", id="declared-sub-cent"),
        pytest.param("7", "XAU", {}, "7", id="no-scale-whole"),
    ],
)
def test_an_amount_within_its_currency_scale_is_kept(amount: str, currency: str, declared: dict[str, int], kept: str) -> None:
    assert str(entered_amount(Decimal(amount), currency, declared, field=("amount",))) == kept


@pytest.mark.parametrize(
    ("amount", "currency", "declared"),
    [
        pytest.param("0.1000000000000000055511151231257827", "EUR", {}, id="a-binary-float-spelt-out"),
        pytest.param("10.001", "EUR", {}, id="a-tenth-of-a-cent"),
        pytest.param("1.5", "JPY", {}, id="half-a-yen"),
        pytest.param("10.234567", "EUR", {"EUR": 5}, id="past-the-declared-scale"),
        pytest.param("1.5", "XAU", {}, id="no-scale-takes-whole-amounts-only"),
    ],
)
def test_an_amount_with_more_places_than_its_currency_is_invalid_naming_the_field(
    amount: str, currency: str, declared: dict[str, int]
) -> None:
    with pytest.raises(InvalidError) as refused:
        entered_amount(Decimal(amount), currency, declared, field=("accounts", 0, "initial_balance"))

    assert refused.value.code is Code.AMOUNT_PLACES_EXCEED_CURRENCY
    assert refused.value.details[0].location == ("accounts", 0, "initial_balance")
    assert "accounts.0.initial_balance" in refused.value.message

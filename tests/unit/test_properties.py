"""Properties of the pure core, checked on generated tariffs, quantities and amounts.

- A monotone pricing tree never charges less for more usage.
- Rounding moves an amount by less than one unit of its last place, in the named
  direction, exactly as Python's decimal module rounds.
- No float reaches the money path: every amount rating returns is a Decimal, and an
  item carrying a float is refused.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rating_support import amount, rate, tariff, typed

from kopek.domain.catalog import Catalog
from kopek.errors import Code, InvalidError
from kopek.money import RoundingMode, quantize
from kopek.rating.outcome import RatingOutcome

MODES = st.sampled_from(list(RoundingMode))


def _decimals(max_value: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=Decimal(max_value), places=places, allow_nan=False, allow_infinity=False)


AMOUNTS = _decimals("100", 4)
DURATIONS = _decimals("100000", 3)
RATE_UNITS = st.sampled_from(["seconds", "minutes", "hours"])


def _charged(catalog: Catalog, duration: Decimal, counters: dict[str, Decimal] | None = None) -> Decimal:
    return amount(rate(catalog, {"duration": str(duration)}, counters=counters))


def _two_durations() -> st.SearchStrategy[tuple[Decimal, Decimal]]:
    """Two durations, the shorter first; zero and equal durations are kept on purpose."""
    return st.tuples(DURATIONS | st.just(Decimal(0)), DURATIONS).map(lambda pair: (min(pair), max(pair)))


# ---- monotone price -------------------------------------------------------------------


@settings(deadline=None)
@given(
    durations=_two_durations(),
    price=AMOUNTS,
    unit=RATE_UNITS,
    increment=st.none() | _decimals("10", 2).filter(lambda value: value > 0),
    minimum=_decimals("10", 2),
    mode=MODES,
)
def test_rate_with_increment_and_minimum_never_charges_less_for_more(
    durations: tuple[Decimal, Decimal], price: Decimal, unit: str, increment: Decimal | None, minimum: Decimal, mode: RoundingMode
) -> None:
    increment_text = f"increment: '{increment}'," if increment is not None else ""
    catalog = tariff(
        f"{{type: rate, amount: '{price}', unit: {unit}, {increment_text} minimum: '{minimum}'}}",
        charge=f"rounding: {{decimals: 2, mode: {mode}}}",
    )
    shorter, longer = durations

    assert _charged(catalog, shorter) <= _charged(catalog, longer)


@st.composite
def _graduated_bands(draw: st.DrawFn) -> str:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=100000), min_size=0, max_size=4)))
    prices = draw(st.lists(AMOUNTS, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    increments = draw(st.lists(st.sampled_from(["", "increment: 1,", "increment: 60,"]), min_size=len(prices), max_size=len(prices)))
    lines = ["type: tiers", "mode: graduated", "bands:"]
    for index, (band_price, increment) in enumerate(zip(prices, increments, strict=True)):
        bound = f"up_to: {bounds[index]}, " if index < len(bounds) else ""
        lines.append(f"  - {{{bound}price: {{type: rate, amount: '{band_price}', unit: seconds, {increment} minimum: 0}}}}")
    return "\n".join(lines)


@settings(deadline=None)
@given(durations=_two_durations(), tiers=_graduated_bands())
def test_graduated_tiers_with_non_negative_rates_never_charge_less_for_more(durations: tuple[Decimal, Decimal], tiers: str) -> None:
    catalog = tariff(tiers)
    shorter, longer = durations

    assert _charged(catalog, shorter) <= _charged(catalog, longer)


@settings(deadline=None)
@given(
    durations=_two_durations(),
    free_minutes=_decimals("100", 3),
    price=AMOUNTS,
    increment=st.sampled_from(["1", "0.5", "0.1"]),
    minimum=st.sampled_from(["0", "0.5", "1"]),
)
def test_allowance_then_rate_never_charges_less_for_more(
    durations: tuple[Decimal, Decimal], free_minutes: Decimal, price: Decimal, increment: str, minimum: str
) -> None:
    catalog = tariff(
        f"""
        type: allowance
        counter: free_minutes
        then: {{type: rate, amount: '{price}', unit: minutes, increment: {increment}, minimum: {minimum}}}
        """,
        counters="[{name: free_minutes, unit: minutes}]",
    )
    shorter, longer = durations
    counters = {"free_minutes": free_minutes}

    assert _charged(catalog, shorter, counters) <= _charged(catalog, longer, counters)


@settings(deadline=None)
@given(durations=_two_durations(), fee=AMOUNTS, price=AMOUNTS)
def test_connect_fee_then_rate_never_charges_less_for_more_nor_less_than_the_fee(
    durations: tuple[Decimal, Decimal], fee: Decimal, price: Decimal
) -> None:
    catalog = tariff(f"{{type: connect_fee, amount: '{fee}', then: {{type: rate, amount: '{price}', unit: minutes}}}}")
    shorter, longer = durations

    assert fee <= _charged(catalog, shorter) <= _charged(catalog, longer)


# ---- rounding -------------------------------------------------------------------------

EXACT_AMOUNTS = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False, places=12)
PYTHON_ROUNDING = {
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
}


def _reference_rounding(exact: Decimal, decimals: int, mode: RoundingMode) -> Fraction:
    """Rounding worked out on exact fractions, independently of the decimal module."""
    scaled = Fraction(exact) * 10**decimals
    below, above = floor(scaled), ceil(scaled)
    toward_zero, away_from_zero = (below, above) if scaled >= 0 else (above, below)
    if mode in (RoundingMode.HALF_UP, RoundingMode.HALF_EVEN) and below != above:
        distance = scaled - below
        if distance != Fraction(1, 2):
            chosen = below if distance < Fraction(1, 2) else above
        elif mode is RoundingMode.HALF_UP:
            chosen = away_from_zero
        else:
            chosen = below if below % 2 == 0 else above
    else:
        chosen = {
            RoundingMode.HALF_UP: below,
            RoundingMode.HALF_EVEN: below,
            RoundingMode.UP: away_from_zero,
            RoundingMode.DOWN: toward_zero,
            RoundingMode.CEILING: above,
            RoundingMode.FLOOR: below,
        }[mode]
    return Fraction(chosen, 10**decimals)


@given(exact=EXACT_AMOUNTS, decimals=st.integers(min_value=0, max_value=12), mode=MODES)
def test_rounding_moves_an_amount_less_than_one_unit_of_its_last_place(exact: Decimal, decimals: int, mode: RoundingMode) -> None:
    rounded = quantize(exact, decimals=decimals, mode=mode)
    unit = Decimal(1).scaleb(-decimals)

    assert rounded.as_tuple().exponent == -decimals
    assert abs(rounded - exact) < unit
    if mode in (RoundingMode.HALF_UP, RoundingMode.HALF_EVEN):
        assert abs(rounded - exact) * 2 <= unit


@given(exact=EXACT_AMOUNTS, decimals=st.integers(min_value=0, max_value=12), mode=MODES)
def test_rounding_goes_in_the_direction_its_mode_names(exact: Decimal, decimals: int, mode: RoundingMode) -> None:
    rounded = quantize(exact, decimals=decimals, mode=mode)

    if mode is RoundingMode.UP:
        assert abs(rounded) >= abs(exact)
    elif mode is RoundingMode.DOWN:
        assert abs(rounded) <= abs(exact)
    elif mode is RoundingMode.CEILING:
        assert rounded >= exact
    elif mode is RoundingMode.FLOOR:
        assert rounded <= exact


@given(exact=EXACT_AMOUNTS, decimals=st.integers(min_value=0, max_value=12), mode=MODES)
def test_rounding_matches_python_decimal_and_exact_fractions(exact: Decimal, decimals: int, mode: RoundingMode) -> None:
    rounded = quantize(exact, decimals=decimals, mode=mode)
    python = exact.quantize(Decimal(1).scaleb(-decimals), rounding=PYTHON_ROUNDING[mode], context=decimal.Context(prec=100))

    assert rounded == python
    assert Fraction(rounded) == _reference_rounding(exact, decimals, mode)


# ---- no float on the money path -------------------------------------------------------------

MIXED_TARIFF = """
    type: sum
    parts:
      - {type: connect_fee, amount: 0.10}
      - type: allowance
        counter: free_minutes
        then:
          type: tiers
          bands:
            - up_to: 60
              price: {type: rate, amount: 0.60, unit: minutes, increment: 1}
            - price:
                type: switch
                property: network
                cases:
                  home: {type: rate, amount: 0.01, unit: seconds}
                default: {type: rate, amount: 0.03, unit: seconds, minimum: 30}
"""


def _amounts_of(outcome: RatingOutcome) -> list[object]:
    values: list[object] = []
    for charged in outcome.charged_items:
        values += [charged.amount, charged.quantity]
    values.append(outcome.total("EUR"))
    return values


def _counter_values_of(outcome: RatingOutcome) -> list[object]:
    return [value for change in outcome.counter_changes for value in (change.before, change.after, change.delta)]


@settings(deadline=None)
@given(
    duration=DURATIONS | st.integers(min_value=0, max_value=10**6),
    network=st.sampled_from(["home", "roaming"]),
    free_minutes=_decimals("5", 3) | st.integers(min_value=0, max_value=5),
)
def test_amounts_are_decimals_and_counter_values_exact_rationals(
    duration: Decimal | int, network: str, free_minutes: Decimal | int
) -> None:
    catalog = tariff(
        MIXED_TARIFF,
        counters="[{name: free_minutes, unit: minutes}, {name: calls, unit: events}]",
        charge="counter_updates: [{counter: calls, add: one}]",
    )

    outcome = rate(catalog, {"duration": duration, "network": network}, counters={"free_minutes": Decimal(free_minutes)})

    assert all(type(value) is Decimal for value in _amounts_of(outcome))
    assert all(type(value) in (int, Fraction) for value in _counter_values_of(outcome))


@given(
    name=st.sampled_from(["duration", "hour"]),
    value=st.floats(allow_nan=True, allow_infinity=True),
)
def test_an_item_whose_property_is_a_float_is_refused(name: str, value: float) -> None:
    catalog = tariff("{type: rate, amount: 0.60, unit: minutes}")
    properties: dict[str, object] = {"duration": "60", name: value}

    with pytest.raises(InvalidError) as raised:
        typed(catalog, "call", properties)

    assert raised.value.code is Code.PROPERTY_INVALID


def test_rating_an_item_with_a_float_quantity_is_refused_before_pricing() -> None:
    catalog = tariff("{type: rate, amount: 0.60, unit: minutes}")

    with pytest.raises(InvalidError) as raised:
        rate(catalog, {"duration": 60.0})

    assert (raised.value.category, raised.value.code) == ("INVALID", Code.PROPERTY_INVALID)

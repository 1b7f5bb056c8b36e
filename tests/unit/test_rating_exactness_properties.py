"""Rating is exact: every pricing tree against the reference rater (``fractions.Fraction``), one rounding per charge.

Two families of cases. Random trees of every node that prices a quantity (rates per 1, 60, 3600 and
1024 of their unit, increments, minimums, connect fees, sums, tiers, allowances, discounts, caps,
switches), with every rounding mode at 0 to 6 places and stored counters, priced by ``rate_item`` and
by :mod:`tests.unit.reference_rating`. And sums of per-minute, per-hour and per-1024 rates drawn so
that the exact total lies on the rounding grid or exactly halfway between two of its points, where a
value computed a hair off rounds the wrong way: those cases are rare at random, so they are built.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.unit.rating_support import contract, counter_key, typed
from tests.unit.reference_rating import reference_rate, rounded

from kopek.domain.catalog import Catalog
from kopek.domain.catalog_load import catalog_from_document
from kopek.errors import KopekError
from kopek.money import RoundingMode, parse_exact
from kopek.rating.rate import RatingState, rate_item

ITEM_CLASSES = [
    {
        "name": "call",
        "quantity": "duration",
        "properties": [
            {"name": "duration", "type": "decimal", "unit": "seconds"},
            {"name": "network", "type": "string", "default": "home"},
            {"name": "destination", "type": "string", "default": "0"},
        ],
    }
]
COUNTERS = [
    {"name": "free_seconds", "unit": "seconds", "initial": 90},
    {"name": "free_minutes", "unit": "minutes", "initial": "2.5"},
    {"name": "used_hours", "unit": "hours"},
    {"name": "spent", "unit": "amount"},
]
PERS = (1, 60, 3600, 1024)
TIME_UNITS = ("seconds", "minutes", "hours")


def _decimal(places: int, low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda units: str(Decimal(units).scaleb(-places)))


amounts = st.one_of(_decimal(2, 0, 500), _decimal(3, 0, 5000), _decimal(4, 0, 50000), st.just("0"))
rates = st.fixed_dictionaries(
    {"type": st.just("rate"), "amount": amounts, "unit": st.sampled_from(TIME_UNITS), "per": st.sampled_from(PERS)},
    optional={
        "increment": st.sampled_from(["1", "0.5", "6", "30", "60"]),
        "minimum": st.sampled_from(["0", "1", "10", "0.5"]),
    },
)
flats = st.fixed_dictionaries({"type": st.just("flat"), "amount": amounts})
leaves = st.one_of(rates, rates, flats)


def _composites(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("connect_fee"), "amount": amounts, "then": children}),
        st.fixed_dictionaries({"type": st.just("sum"), "parts": st.lists(children, min_size=1, max_size=3)}),
        _tiers(children),
        st.fixed_dictionaries(
            {"type": st.just("allowance"), "counter": st.sampled_from(["free_seconds", "free_minutes"]), "then": children}
        ),
        st.fixed_dictionaries({"type": st.just("discount"), "percent": _decimal(1, 0, 1000), "price": children}),
        st.fixed_dictionaries(
            {"type": st.just("cap"), "maximum": _decimal(2, 0, 2000), "price": children}, optional={"counter": st.just("spent")}
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("switch"),
                "property": st.just("network"),
                "cases": st.fixed_dictionaries({"home": children}),
                "default": children,
            }
        ),
    )


@st.composite
def _tiers(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """Graduated or volume tiers over the quantity or a counter, with ascending bounds (the last band open-ended, or
    with a bound the rules ignore)."""
    prices = draw(st.lists(children, min_size=1, max_size=3))
    bounds = sorted(draw(st.sets(st.integers(1, 600), min_size=len(prices), max_size=len(prices))))
    bands: list[dict[str, Any]] = [{"up_to": bound, "price": price} for bound, price in zip(bounds, prices, strict=True)]
    if draw(st.booleans()):
        del bands[-1]["up_to"]
    node: dict[str, Any] = {"type": "tiers", "mode": draw(st.sampled_from(["graduated", "volume"])), "bands": bands, "unit": "seconds"}
    basis = draw(st.sampled_from([None, "free_seconds", "used_hours"]))
    if basis is not None:
        node["counter"] = basis
    return node


trees = st.recursive(leaves, _composites, max_leaves=8)
roundings = st.fixed_dictionaries({"decimals": st.integers(0, 6), "mode": st.sampled_from([mode.value for mode in RoundingMode])})
durations = st.one_of(
    st.integers(0, 4000).map(str),
    st.sampled_from(["0", "1", "59", "60", "61", "90", "3599", "3600", "3601", "1024"]),
    _decimal(1, 0, 40000),
    _decimal(3, 0, 400000),
)
stored_values = st.fixed_dictionaries(
    {},
    optional={
        "free_seconds": st.integers(0, 200).map(str),
        "free_minutes": st.one_of(_decimal(2, 0, 500), st.sampled_from(["1/3", "5/6", "7/60", "1/12"])),
        "used_hours": st.sampled_from(["0", "1/60", "1/3600", "0.5", "7/12"]),
        "spent": _decimal(4, 0, 20000),
    },
)


def _catalog(price: dict[str, Any], rounding: dict[str, Any]) -> Catalog | None:
    document = {
        "item_classes": ITEM_CLASSES,
        "charge_plans": [
            {
                "name": "plan",
                "currency": "EUR",
                "counters": COUNTERS,
                "charges": [{"name": "main", "item_class": "call", "price": price, "rounding": rounding}],
            }
        ],
    }
    try:
        return catalog_from_document(document, source="drawn")
    except KopekError:
        return None  # a drawn tree the catalog rules refuse (e.g. bands whose bounds do not ascend)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "rated", run()
    except KopekError as error:
        return "refused", (error.code, error.notifications)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=trees, rounding=roundings, duration=durations, stored=stored_values, network=st.sampled_from(["home", "roaming"]))
def test_every_tree_prices_as_the_reference_does_exactly(
    price: dict[str, Any], rounding: dict[str, Any], duration: str, stored: dict[str, str], network: str
) -> None:
    catalog = _catalog(price, rounding)
    assume(catalog is not None)
    assert catalog is not None
    state = RatingState(contract("plan"), {counter_key(name): parse_exact(value) for name, value in stored.items()})
    item = typed(catalog, "call", {"duration": duration, "network": network})

    kind, ours = _outcome(lambda: rate_item(catalog, state, item))
    reference_kind, theirs = _outcome(lambda: reference_rate(catalog, state, item))

    assert kind == reference_kind
    if kind == "refused":
        assert ours == theirs
        return
    assert [(charged.amount, str(charged.amount)) for charged in ours.charged_items] == [
        (charged.amount, str(charged.amount)) for charged in theirs.charged_items
    ]
    assert ours.charged_items == theirs.charged_items
    assert ours.counter_changes == theirs.counter_changes
    assert ours.notifications == theirs.notifications


# ---- sums built to land on the rounding grid or on a tie ------------------------------------------------------


@st.composite
def on_the_grid_or_a_tie(draw: st.DrawFn) -> tuple[list[str], str, int, int, int, RoundingMode, Fraction]:
    """Rate amounts of one ``per`` and unit, a quantity, decimals and a mode, and the exact total they make: on the
    grid of ``decimals`` places, or halfway between two of its points. Each part alone does not end when its ``per``
    and unit hold a factor 3 (60, 3600) and the quantity does not cancel it."""
    per = draw(st.sampled_from([60, 3600, 1024]))
    unit = draw(st.sampled_from(["seconds", "minutes"]))
    decimals = draw(st.integers(0, 6))
    mode = draw(st.sampled_from(list(RoundingMode)))
    seconds = draw(st.sampled_from([1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50, 64, 80, 100, 125]))
    tie = draw(st.booleans())
    target = Fraction(draw(st.integers(1, 10**4)) * 2 + (1 if tie else 0), 2 * 10**decimals)
    factor = 60 if unit == "minutes" else 1
    # The amounts add up to target * per * factor / seconds, a finite decimal (seconds holds only factors 2 and 5).
    total = target * per * factor / seconds
    places = decimals + 8
    assert (total * 10**places).denominator == 1
    parts = draw(st.integers(2, 4))
    cuts = sorted(draw(st.lists(st.integers(1, int(total * 10**places) - 1), min_size=parts - 1, max_size=parts - 1, unique=True)))
    units = [b - a for a, b in zip([0, *cuts], [*cuts, int(total * 10**places)], strict=True)]
    amounts = [str(Decimal(value).scaleb(-places)) for value in units]
    return amounts, unit, per, seconds, decimals, mode, target


@settings(max_examples=300, deadline=None)
@given(drawn=on_the_grid_or_a_tie(), fee_units=st.integers(0, 50))
def test_parts_that_do_not_end_but_add_up_to_the_grid_or_a_tie_round_as_their_exact_sum(
    drawn: tuple[list[str], str, int, int, int, RoundingMode, Fraction], fee_units: int
) -> None:
    amounts, unit, per, seconds, decimals, mode, target = drawn
    # A connect fee on the grid keeps the total where it was: on the grid, or on a tie.
    fee = Decimal(fee_units).scaleb(-decimals)
    parts = [{"type": "rate", "amount": amount, "unit": unit, "per": per} for amount in amounts]
    price = {"type": "connect_fee", "amount": str(fee), "then": {"type": "sum", "parts": parts}}
    catalog = _catalog(price, {"decimals": decimals, "mode": mode.value})
    assert catalog is not None
    state = RatingState(contract("plan"), {})
    item = typed(catalog, "call", {"duration": str(seconds)})

    (charged,) = rate_item(catalog, state, item).charged_items
    (expected,) = reference_rate(catalog, state, item).charged_items

    exact_total = target + Fraction(fee)
    assert charged.amount == rounded(exact_total, decimals, mode) == expected.amount
    assert str(charged.amount) == str(rounded(exact_total, decimals, mode))

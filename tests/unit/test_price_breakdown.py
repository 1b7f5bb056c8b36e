"""A price enquiry's breakdown: traced trees rate exactly as charging's do, and their root is the charge's exact total."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.unit.rating_support import contract, counter_key, typed
from tests.unit.test_rating_exactness_properties import _catalog, _outcome, durations, roundings, stored_values, trees

from kopek.money import RoundingMode, exact, parse_exact, round_exact
from kopek.rating.rate import RatingState, rate_item, rate_item_traced


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=trees, rounding=roundings, duration=durations, stored=stored_values, network=st.sampled_from(["home", "roaming"]))
def test_a_traced_tree_rates_as_charging_does_and_its_root_is_the_unrounded_total(
    price: dict[str, Any], rounding: dict[str, Any], duration: str, stored: dict[str, str], network: str
) -> None:
    catalog = _catalog(price, rounding)
    assume(catalog is not None)
    assert catalog is not None
    state = RatingState(contract("plan"), {counter_key(name): parse_exact(value) for name, value in stored.items()})
    item = typed(catalog, "call", {"duration": duration, "network": network})

    kind, charged = _outcome(lambda: rate_item(catalog, state, item))
    traced_kind, traced = _outcome(lambda: rate_item_traced(catalog, state, item))

    assert kind == traced_kind
    if kind == "refused":
        assert charged == traced
        return
    outcome, traces = traced
    assert outcome == charged
    assert len(traces) == len(outcome.charged_items) == 1
    (nodes,) = traces
    root = nodes[0]
    assert (root.depth, root.node) == (0, price["type"])
    assert exact(root.quantity) == exact(item.quantity)
    total = Fraction(root.amount)
    mode = RoundingMode(rounding["mode"])
    assert round_exact(total.numerator, total.denominator, decimals=rounding["decimals"], mode=mode) == outcome.charged_items[0].amount
    # Depth never jumps by more than one from a node to the next: the entries are the tree in the order entered.
    assert all(later.depth <= earlier.depth + 1 for earlier, later in itertools.pairwise(nodes))


def test_a_rate_shows_what_it_priced_and_its_exact_amount() -> None:
    catalog = _catalog({"type": "rate", "amount": "0.01", "unit": "seconds"}, {"decimals": 2, "mode": "half_up"})
    assert catalog is not None
    state = RatingState(contract("plan"), {})
    item = typed(catalog, "call", {"duration": "90"})
    outcome, (nodes,) = rate_item_traced(catalog, state, item)
    assert rate_item(catalog, state, item) == outcome
    assert [(node.depth, node.node, node.detail, node.quantity, node.amount) for node in nodes] == [
        (0, "rate", "0.01 per 1 seconds", 90, Fraction(9, 10))
    ]

"""The compiled rater gives the outcome the reference rater gives, item after item, over random catalogs.

Random catalogs: two plans (two contract items) sharing counters of every scope (contract item,
contract, shared, transient, activation), units (seconds, minutes, hours, amount, events), resets
(none, daily, weekly, monthly in a time zone, per activation of a recurring fee), initial values and
thresholds both ways; each plan's charge prices calls with a random tree (:mod:`tests.unit.
test_rating_exactness_properties`, plus schedules and barred prefixes) and updates counters. Random
items: calls over days, weeks and month ends, some late, with stored values, holds of other
sessions and a parent contract sometimes. Each item is rated by ``rate_item`` and by
:mod:`tests.unit.reference_rating` from the same state; amounts (to their text), counter changes,
notifications and refusals must agree; the state then moves on as the engine moves it
(``RatingState.after``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.unit.reference_rating import reference_rate
from tests.unit.test_rating_exactness_properties import ITEM_CLASSES, roundings, trees

from kopek.domain.catalog import Catalog, CounterScope
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import ChargeableItem, type_item
from kopek.domain.master import AccountId, Contract, ContractId, ContractItem, ContractItemId, SubscriberAccountId
from kopek.domain.outcome import CounterKey
from kopek.errors import KopekError
from kopek.rating.rate import CounterHold, CounterLife, RatingState, rate_item

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "America/Santiago")
"""Zones of counter resets: Santiago changes its clocks at midnight (a local midnight that happens twice, in April)."""
START = datetime(2024, 3, 28, 21, 30, tzinfo=UTC)


@st.composite
def counter_specs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The counters both plans declare (alike, as a contract counter must be), named as the drawn trees name them."""
    specs = []
    for name, units in (("free_seconds", ["seconds"]), ("free_minutes", ["minutes"]), ("used_hours", ["hours"]), ("spent", ["amount"])):
        scope = draw(st.sampled_from(["contract_item", "contract", "shared", "transient", "activation"]))
        spec: dict[str, Any] = {"name": name, "unit": draw(st.sampled_from(units)), "scope": scope}
        if scope == "shared":
            spec["namespace"] = "family"
        spec["initial"] = draw(st.sampled_from(["0", "90", "2.5", "600", "0.75"]))
        if scope != "transient":
            reset = draw(st.sampled_from(["none", "none", "daily", "weekly", "monthly", "per_activation"]))
            spec["reset"] = reset
            if reset in ("daily", "weekly", "monthly"):
                spec["time_zone"] = draw(st.sampled_from(ZONES))
            if reset == "monthly":
                spec["anchor_day"] = draw(st.integers(1, 31))
        thresholds = draw(
            st.lists(st.tuples(st.sampled_from(["0", "1", "30", "60", "0.5", "100"]), st.sampled_from(["up", "down"])), max_size=2)
        )
        spec["thresholds"] = [{"value": value, "direction": direction} for value, direction in dict(thresholds).items()]
        specs.append(spec)
    specs.append({"name": "calls", "unit": "events", "scope": draw(st.sampled_from(["contract", "shared", "contract_item"]))})
    if specs[-1]["scope"] == "shared":
        specs[-1]["namespace"] = "family"
    return specs


updates = st.lists(
    st.sampled_from(
        [
            {"counter": "free_seconds", "add": "quantity"},
            {"counter": "used_hours", "add": "quantity"},
            {"counter": "spent", "add": "amount"},
            {"counter": "calls", "add": "one"},
            {"counter": "free_minutes", "add": "one"},
        ]
    ),
    max_size=2,
    unique_by=lambda update: update["counter"],
)
schedules = st.builds(
    lambda day, night: {
        "type": "schedule",
        "time_zone": "Europe/Paris",
        "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00", "price": day},
            {"price": night},
        ],
    },
    trees,
    trees,
)
barred = st.builds(
    lambda inner: {"type": "prefix", "property": "destination", "prefixes": {"3389": {"type": "no_access"}, "33": inner}, "default": inner},
    trees,
)
prices = st.one_of(trees, trees, schedules, barred)


def _catalog(specs: list[dict[str, Any]], charges: list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]) -> Catalog | None:
    plans = []
    for index, (price, rounding, moves) in enumerate(charges):
        plan: dict[str, Any] = {
            "name": f"plan-{index}",
            "currency": "EUR",
            "counters": specs,
            "charges": [{"name": "call", "item_class": "call", "price": price, "rounding": rounding, "counter_updates": moves}],
        }
        if any(spec.get("reset") == "per_activation" for spec in specs):
            plan["fees"] = [{"name": "monthly", "period": "monthly", "amount": "1", "anchor_day": 15}]
        plans.append(plan)
    try:
        return catalog_from_document({"item_classes": ITEM_CLASSES, "charge_plans": plans}, source="drawn")
    except KopekError:
        return None


def _contract(contract_id: str, *, parent: str | None = None) -> Contract:
    items = (ContractItem(ContractItemId("item-0"), "plan-0"), ContractItem(ContractItemId("item-1"), "plan-1"))
    return Contract(
        id=ContractId(contract_id),
        subscriber_account_id=SubscriberAccountId("subscriber"),
        valid_from=datetime(2024, 1, 10, 9, tzinfo=UTC),
        items=items,
        parent_id=ContractId(parent) if parent is not None else None,
        roles={"prepaid": AccountId("account")},
    )


calls = st.lists(
    st.tuples(
        st.integers(-2 * 86_400, 3 * 86_400),
        st.one_of(
            st.integers(0, 4000).map(str), st.sampled_from(["0", "1", "59", "60", "61", "3600"]), st.decimals(0, 500, places=1).map(str)
        ),
        st.sampled_from(["home", "roaming"]),
        st.sampled_from(["33140000000", "33891234567", "4420000000"]),
    ),
    min_size=1,
    max_size=10,
)
stored = st.fixed_dictionaries(
    {},
    optional={
        "free_seconds": st.sampled_from(["0", "30", "7/3"]),
        "free_minutes": st.sampled_from(["1/3", "0.5", "0", "12"]),
        "used_hours": st.sampled_from(["1/60", "0", "5/12"]),
        "spent": st.sampled_from(["0.5", "1/3", "0"]),
        "calls": st.sampled_from(["0", "3"]),
    },
)


def _key(catalog: Catalog, name: str, contract: Contract, parent: Contract | None) -> CounterKey:
    plan = catalog.charge_plan("plan-0")
    assert plan is not None
    spec = plan.counter(name)
    assert spec is not None
    if spec.scope is CounterScope.CONTRACT:
        return CounterKey(parent.id if parent is not None else contract.id, "", name, CounterScope.CONTRACT)
    if spec.scope is CounterScope.SHARED:
        return CounterKey("", "", name, CounterScope.SHARED, "family")
    return CounterKey(contract.id, "item-0", name, spec.scope)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "rated", run()
    except KopekError as error:
        return "refused", (error.code, error.notifications)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    specs=counter_specs(),
    charges=st.lists(st.tuples(prices, roundings, updates), min_size=2, max_size=2),
    drawn=calls,
    values=stored,
    linked=st.booleans(),
    held=st.sampled_from([None, "1/3", "45", "-2"]),
    moved=st.sampled_from([None, "1/2", "10"]),
)
def test_the_compiled_rater_rates_item_after_item_as_the_reference_does(
    specs: list[dict[str, Any]],
    charges: list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]],
    drawn: list[tuple[int, str, str, str]],
    values: dict[str, str],
    linked: bool,
    held: str | None,
    moved: str | None,
) -> None:
    catalog = _catalog(specs, charges)
    assume(catalog is not None)
    assert catalog is not None
    parent = _contract("parent") if linked else None
    contract = _contract("child", parent="parent" if linked else None)
    # Transient counters are never stored: a session passes their moves instead.
    keys = {name: _key(catalog, name, contract, parent) for name in values}
    counters = {key: Fraction(values[name]) for name, key in keys.items() if key.scope is not CounterScope.TRANSIENT}
    lives = {key: CounterLife(period_start=START - timedelta(days=40)) for key in list(counters)[:1]}
    holds = {_key(catalog, "free_seconds", contract, parent): CounterHold(Fraction(held))} if held is not None else {}
    moves = {_key(catalog, "used_hours", contract, parent): Fraction(moved)} if moved is not None else {}
    state = RatingState(contract, counters, lives, parent, moves, holds)
    klass = catalog.item_class("call")
    assert klass is not None
    moment = START
    for shift, duration, network, destination in drawn:
        moment = moment + timedelta(seconds=shift) if shift >= 0 or moment + timedelta(seconds=shift) > START else moment
        item = type_item(
            klass, ChargeableItem("call", moment, "voice", "user", {"duration": duration, "network": network, "destination": destination})
        )

        kind, ours = _outcome(lambda state=state, item=item: rate_item(catalog, state, item))
        reference_kind, theirs = _outcome(lambda state=state, item=item: reference_rate(catalog, state, item))

        assert kind == reference_kind, (kind, ours, theirs)
        if kind == "refused":
            assert ours == theirs
            continue
        assert [str(charged.amount) for charged in ours.charged_items] == [str(charged.amount) for charged in theirs.charged_items]
        assert ours.charged_items == theirs.charged_items
        assert ours.counter_changes == theirs.counter_changes
        assert ours.notifications == theirs.notifications
        assert all(type(value) in (int, Fraction) for change in ours.counter_changes for value in (change.before, change.after))
        assert all(type(charged.amount) is Decimal for charged in ours.charged_items)
        state = state.after(ours.counter_changes)


BELOW_ZERO_BANDS = {
    "flat bands": [{"up_to": 1, "price": {"type": "flat", "amount": "0.50"}}, {"up_to": 2, "price": {"type": "flat", "amount": "0.00"}}],
    "rate bands": [
        {"up_to": 60, "price": {"type": "rate", "amount": "0.10", "unit": "seconds", "per": 1, "minimum": 1}},
        {"price": {"type": "rate", "amount": "0.01", "unit": "seconds", "per": 1}},
    ],
}


@pytest.mark.parametrize("bands", list(BELOW_ZERO_BANDS))
@pytest.mark.parametrize(("held", "seconds", "expected"), [("-2", "1", "0.00"), ("-1", "1", "0.00"), ("-2", "3", None)])
def test_usage_below_the_first_band_of_graduated_tiers_lies_in_no_band(bands: str, held: str, seconds: str, expected: str | None) -> None:
    """The first band starts at zero (docs/catalog.md): with its counter basis under zero (here the hold of another
    session's grant), the part of a call below zero is priced by no band, neither by the first band's price (a flat
    fee, a minimum) nor as a negative quantity (a credit). ``expected`` None: the call reaches the bands, and only the
    reference's figure is asked for."""
    counters = [{"name": "free_seconds", "unit": "seconds", "scope": "contract_item", "initial": "0", "reset": "none", "thresholds": []}]
    tiers = {"type": "tiers", "mode": "graduated", "counter": "free_seconds", "unit": "seconds", "bands": BELOW_ZERO_BANDS[bands]}
    rounding = {"decimals": 2, "mode": "half_up"}
    catalog = _catalog(counters, [(tiers, rounding, []), ({"type": "rate", "amount": "0.00", "unit": "seconds", "per": 1}, rounding, [])])
    assert catalog is not None
    contract = _contract("child")
    hold = {CounterKey(contract.id, "item-0", "free_seconds", CounterScope.CONTRACT_ITEM): CounterHold(Fraction(held))}
    state = RatingState(contract, {}, {}, None, {}, hold)
    klass = catalog.item_class("call")
    assert klass is not None
    item = type_item(
        klass, ChargeableItem("call", START, "voice", "user", {"duration": seconds, "network": "home", "destination": "33140000000"})
    )

    ours, theirs = rate_item(catalog, state, item), reference_rate(catalog, state, item)

    assert [str(charged.amount) for charged in ours.charged_items] == [str(charged.amount) for charged in theirs.charged_items]
    if expected is not None:
        assert [str(charged.amount) for charged in ours.charged_items] == [expected, "0.00"]

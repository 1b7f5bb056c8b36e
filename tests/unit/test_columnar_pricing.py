"""Property: the columnar pricing of a frame of one contract's items equals ``rate_item`` applied item after item.

The frame is built as the vectorized rating path builds it (``_frame`` in
``kopek.batch.columnar_rating``): one row per item in charging order, the quantity in
base units, the properties that switches and prefixes read as text, and each counter's
value before the frame in base units. Refused items (``no_access``) are not charged,
as in the MOST modes. For each item the refusal (and its message), each charge's
rounded amount, the counters' moves and the allowances used up must equal what the row
path computes from the state the previous item left.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rating_support import CONTRACT_ID, ITEM_CLASSES_YAML, contract, load_catalog, parse_yaml, typed

from kopek.domain.catalog import Catalog, CounterScope
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import TypedItem, property_text
from kopek.errors import Code, IllegalStateError
from kopek.money import RoundingMode
from kopek.rating.columnar import INT, ColumnarPlan, Unsupported, compile_plan, epoch_column, owner_column, properties_read
from kopek.rating.columnar_counters import NO_PERIOD
from kopek.rating.columnar_schedules import ScheduleTooFine
from kopek.rating.outcome import CounterKey, NotificationKind
from kopek.rating.rate import RatingState, rate_item

CHARGES = ("voice", "surcharge", "deal", "capped", "data", "data_volume", "sms", "sms_fee")
ROUNDING_MODES = tuple(RoundingMode)

# Thirty zones priced alike (a connect fee, then a first minute billed by the minute, then per second),
# each with its own constants, so the compiler prices them as one family.
ZONES = {
    f"{3300 + index}": {
        "type": "connect_fee",
        "amount": f"0.0{index % 10}",
        "then": {
            "type": "tiers",
            "mode": "graduated",
            "bands": [
                {"up_to": 60, "price": {"type": "rate", "amount": f"0.{60 + index}", "unit": "minutes", "increment": 1}},
                {"price": {"type": "rate", "amount": f"0.00{index % 7 + 1}3", "unit": "seconds"}},
            ],
        },
    }
    for index in range(30)
}

PLAN_YAML = """\
counters:
  - {name: free, scope: contract_item, unit: seconds, initial: 300}
  - {name: mb_used, scope: contract, unit: megabytes}
  - {name: sms_sent, scope: contract_item, unit: events}
  - {name: spent, scope: contract_item, unit: amount, thresholds: [{value: 0.25, direction: up}]}
charges:
  - name: voice
    item_class: call
    price:
      type: allowance
      counter: free
      then:
        type: prefix
        property: destination
        prefixes:
          "33": {type: rate, amount: "0.45", unit: minutes, increment: 1}
          "9": {type: no_access, message: premium numbers are barred}
          "999": {type: no_access, message: satellite numbers are barred}
          "44": {type: flat, amount: "0.99"}
        default: {type: rate, amount: "0.02", unit: seconds}
  - name: surcharge
    item_class: call
    price:
      type: switch
      property: network
      cases:
        home: {type: flat, amount: "0"}
        roaming:
          type: sum
          parts:
            - {type: flat, amount: "0.333"}
            - {type: rate, amount: "0.07", unit: minutes, minimum: 1, increment: 0.5}
        discount: {type: flat, amount: "-0.125"}
      default: {type: rate, amount: "0.011", unit: seconds, minimum: 10, increment: 6}
  - name: data
    item_class: data
    price:
      type: tiers
      counter: mb_used
      mode: graduated
      bands:
        - {up_to: 100, price: {type: rate, amount: "0.01", unit: megabytes}}
        - {up_to: 500, price: {type: discount, percent: "PERCENT_D", price: {type: rate, amount: "0.005", unit: megabytes}}}
        - price: {type: rate, amount: "0.0007", unit: kilobytes, per: 3}
    counter_updates:
      - {counter: mb_used, add: quantity}
  - name: data_volume
    item_class: data
    price:
      type: tiers
      mode: volume
      unit: megabytes
      bands:
        - {up_to: 10, price: {type: cap, maximum: "MAXIMUM_C", price: {type: flat, amount: "0.5"}}}
        - {up_to: 100, price: {type: rate, amount: "0.004", unit: megabytes}}
        - price: {type: rate, amount: "0.002", unit: megabytes, per: 7}
  - name: sms
    item_class: sms
    price:
      type: tiers
      counter: sms_sent
      bands:
        - {up_to: 3, price: {type: flat, amount: "0.10"}}
        - {up_to: 10, price: {type: rate, amount: "0.05", unit: events}}
        - price: {type: cap, maximum: "MAXIMUM_A", price: {type: flat, amount: "-0.01"}}
    counter_updates:
      - {counter: sms_sent, add: one}
  - name: sms_fee
    item_class: sms
    price:
      type: cap
      maximum: "MAXIMUM_C"
      price: {type: discount, percent: "PERCENT_A", price: {type: rate, amount: "0.0333", unit: events, per: 7, minimum: 1}}
"""

# A discount over a switch whose cases are caps; the home and default caps share a shape (a family of two, with their
# own maxima and rates), the discount case caps a negative amount.
DEAL_YAML = """\
name: deal
item_class: call
price:
  type: discount
  percent: "PERCENT_A"
  price:
    type: switch
    property: network
    cases:
      home: {type: cap, maximum: "MAXIMUM_A", price: {type: rate, amount: "0.013", unit: seconds, per: 7}}
      roaming:
        type: cap
        maximum: "MAXIMUM_B"
        price:
          type: sum
          parts:
            - {type: flat, amount: "0.333"}
            - {type: rate, amount: "0.07", unit: minutes, increment: 1}
      discount: {type: cap, maximum: "MAXIMUM_A", price: {type: flat, amount: "-0.125"}}
    default: {type: cap, maximum: "MAXIMUM_B", price: {type: rate, amount: "0.0123", unit: seconds}}
"""

# Two discounted zones priced alike under the allowance: a family of two discounts with their own percents.
DISCOUNTED_ZONES = {
    "34": {"type": "discount", "percent": "PERCENT_B", "price": {"type": "rate", "amount": "0.45", "unit": "minutes", "increment": 1}},
    "35": {"type": "discount", "percent": "PERCENT_C", "price": {"type": "rate", "amount": "0.3", "unit": "minutes", "increment": 1}},
}

# A cap over a counter of what it let through: rates per 7 seconds (amounts in 7000ths), a discounted roaming rate and
# a negative amount, which the cap lets through as nothing.
CAPPED_YAML = """\
name: capped
item_class: call
price:
  type: cap
  maximum: "MAXIMUM_D"
  counter: spent
  price:
    type: switch
    property: network
    cases:
      home: {type: rate, amount: "0.0123", unit: seconds, per: 7}
      roaming: {type: discount, percent: "PERCENT_B", price: {type: rate, amount: "0.07", unit: minutes, increment: 1}}
      discount: {type: flat, amount: "-0.2"}
    default: {type: flat, amount: "0"}
"""

PERCENTS = ("PERCENT_A", "PERCENT_B", "PERCENT_C", "PERCENT_D")
MAXIMA = ("MAXIMUM_A", "MAXIMUM_B", "MAXIMUM_C", "MAXIMUM_D")
DEFAULT_KNOBS = dict.fromkeys(PERCENTS, "12.5") | dict.fromkeys(MAXIMA, "0.5")

DESTINATIONS = [*ZONES, "3312345", "33", "44", "4", "9", "912", "999", "9991", "1", "0", "34", "3456", "35"]


def _catalog(roundings: dict[str, tuple[int, RoundingMode]], knobs: dict[str, str] = DEFAULT_KNOBS) -> Catalog:
    """The standard item classes and one plan ``plan`` whose charges are rounded as ``roundings`` says, with the
    discounts' percents and the caps' maxima that ``knobs`` gives (by placeholder)."""
    document = parse_yaml(ITEM_CLASSES_YAML)
    text, deal, capped, zones = PLAN_YAML, DEAL_YAML, CAPPED_YAML, repr(DISCOUNTED_ZONES)
    for placeholder, value in knobs.items():
        text, deal, capped, zones = (part.replace(placeholder, value) for part in (text, deal, capped, zones))
    plan: dict[str, Any] = {"name": "plan", "currency": "EUR", **parse_yaml(text)}
    plan["charges"][2:2] = [parse_yaml(deal), parse_yaml(capped)]
    for charge in plan["charges"]:
        decimals, mode = roundings[charge["name"]]
        charge["rounding"] = {"decimals": decimals, "mode": mode.value}
        charge["account_role"] = "postpaid"
    plan["charges"][0]["price"]["then"]["prefixes"].update(ZONES, **ast.literal_eval(zones))
    document["charge_plans"] = [plan]
    return catalog_from_document(document, source="tariff.yaml")


@dataclass(frozen=True, slots=True)
class RowResult:
    """What the row path did with one item: refused (with the message) or the amounts by charge name, the allowances
    used up and the caps reached."""

    refusal: str | None
    amounts: dict[str, Decimal]
    used_up: set[str]
    reached: set[str]


def _row_path(catalog: Catalog, stored: dict[CounterKey, Decimal], items: list[TypedItem]) -> tuple[list[RowResult], RatingState]:
    state = RatingState(contract("plan"), stored)
    results = []
    for item in items:
        try:
            outcome = rate_item(catalog, state, item)
        except IllegalStateError as error:
            assert error.code is Code.SERVICE_NOT_ACCESSIBLE, error
            results.append(RowResult(error.message, {}, set(), set()))
            continue
        used_up = {note.data["counter"] for note in outcome.notifications if note.kind is NotificationKind.ALLOWANCE_EXHAUSTED}
        reached = {note.data["counter"] for note in outcome.notifications if note.kind is NotificationKind.CAP_REACHED}
        amounts = {charged.charge: charged.amount for charged in outcome.charged_items}
        results.append(RowResult(None, amounts, used_up, reached))
        state = state.after(outcome.counter_changes)
    return results, state


def _whole(value: Any) -> int:
    number = Fraction(value)
    assert number.denominator == 1, value
    return int(number)


def _key(catalog: Catalog, name: str) -> CounterKey:
    plan = catalog.charge_plan("plan")
    assert plan is not None
    (spec,) = [spec for spec in plan.counters if spec.name == name]
    item_id = "" if spec.scope is CounterScope.CONTRACT else "contract-item-1"
    return CounterKey(CONTRACT_ID, item_id, name, spec.scope)


def _frame(catalog: Catalog, items: list[TypedItem], programs: dict[str, ColumnarPlan], before_base: dict[str, int]) -> pl.DataFrame:
    """The items as ``_frame`` of the vectorized rating path lays them out."""
    properties = sorted({name for program in programs.values() for name in properties_read(program)})
    quantities = []
    for item in items:
        unit = item.item_class.quantity_unit
        quantity = unit.to_base(item.quantity) if unit is not None else item.quantity
        assert quantity == quantity.to_integral_value()
        quantities.append(int(quantity))
    columns: dict[str, pl.Series] = {
        "row": pl.Series(range(len(items)), dtype=pl.Int64),
        "contract_id": pl.Series([CONTRACT_ID] * len(items), dtype=pl.String),
        "plan": pl.Series(["plan"] * len(items), dtype=pl.String),
        "item_class": pl.Series([item.item_class.name for item in items], dtype=pl.String),
        "q": pl.Series(quantities, dtype=INT),
        "consumption_date": pl.Series([item.consumption_date for item in items], dtype=pl.Datetime("us", "UTC")),
    }
    for name in properties:
        values = [item.properties.get(name) for item in items]
        columns[f"p:{name}"] = pl.Series([property_text(value) if value is not None else None for value in values], dtype=pl.String)
    for name, base in before_base.items():
        columns[f"c0:{name}"] = pl.Series([base] * len(items), dtype=INT)
        columns[epoch_column(name)] = pl.Series([NO_PERIOD] * len(items), dtype=pl.Int64)
        columns[owner_column(name)] = pl.Series([0] * len(items), dtype=pl.Int64)  # One contract: one owner.
    return pl.DataFrame(columns)


def _columnar(frame: pl.DataFrame, programs: dict[str, ColumnarPlan]) -> dict[str, pl.DataFrame]:
    """Each item class's rows priced by its program, MOST semantics: a refused item is not live."""
    priced = {}
    for item_class, program in programs.items():
        part = frame.lazy().filter(pl.col("item_class") == item_class)
        marked = program.refused(part).collect()
        assert not marked["unpriced"].any(), "every switch and prefix of the plan has a default"
        live = marked.select("row", "refusal").with_columns(live=pl.col("refusal").is_null())
        joined = part.collect().join(live, on="row", how="left", maintain_order="left")
        priced[item_class] = program.priced(joined.lazy()).collect()
    return priced


roundings_strategy = st.fixed_dictionaries(
    {name: st.tuples(st.integers(min_value=0, max_value=4), st.sampled_from(ROUNDING_MODES)) for name in CHARGES}
)
call_strategy = st.tuples(
    st.just("call"),
    st.fixed_dictionaries(
        {
            "duration": st.one_of(st.just(0), st.integers(min_value=0, max_value=400), st.sampled_from([1, 59, 60, 61, 299, 300, 301])),
            "destination": st.sampled_from(DESTINATIONS),
            "network": st.sampled_from(["home", "roaming", "discount", "satellite"]),
        }
    ),
)
data_strategy = st.tuples(
    st.just("data"),
    st.fixed_dictionaries(
        {
            "volume": st.one_of(
                st.just(0),
                st.integers(min_value=0, max_value=700_000_000),
                st.sampled_from([1, 999_999, 1_000_000, 10_000_000, 10_000_001, 100_000_000, 100_000_001, 500_000_000]),
            )
        }
    ),
)
sms_strategy = st.tuples(st.just("sms"), st.fixed_dictionaries({"count": st.integers(min_value=0, max_value=4)}))
items_strategy = st.lists(st.one_of(call_strategy, data_strategy, sms_strategy), min_size=1, max_size=30)
# Percents of 0 and 100, fractional ones (12.5, 33.333: a kept part of 2/3 plus a thousandth), maxima of zero, below
# and above the amounts.
percent_strategy = st.one_of(
    st.sampled_from(["0", "100", "12.5", "33.333", "50", "99.99", "0.001"]),
    st.decimals(min_value=0, max_value=100, places=3).map(str),
)
maximum_strategy = st.one_of(
    st.sampled_from(["0", "0.001", "0.05", "0.1", "0.5", "2.345", "1000"]),
    st.decimals(min_value=0, max_value=5, places=4).map(str),
)
knobs_strategy = st.fixed_dictionaries({**dict.fromkeys(PERCENTS, percent_strategy), **dict.fromkeys(MAXIMA, maximum_strategy)})
stored_strategy = st.fixed_dictionaries(
    {
        "free": st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
        "mb_used": st.one_of(st.none(), st.integers(min_value=0, max_value=600_000_000)),
        "sms_sent": st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
        # In amount: below, at and past any maximum, and negative.
        "spent": st.one_of(st.none(), st.sampled_from([0, 1, 5, -1, 2000])),
    }
)


@settings(max_examples=300, deadline=None)
@given(roundings=roundings_strategy, drawn=items_strategy, stored_base=stored_strategy, knobs=knobs_strategy)
def test_columnar_amounts_refusals_and_counters_equal_rate_item_item_after_item(
    roundings: dict[str, tuple[int, RoundingMode]],
    drawn: list[tuple[str, dict[str, object]]],
    stored_base: dict[str, int | None],
    knobs: dict[str, str],
) -> None:
    catalog = _catalog(roundings, knobs)
    plan = catalog.charge_plan("plan")
    assert plan is not None
    specs = {spec.name: spec for spec in plan.counters}
    items = [typed(catalog, item_class, properties) for item_class, properties in drawn]
    stored = {_key(catalog, name): specs[name].unit.from_base(base) for name, base in stored_base.items() if base is not None}
    programs = {item_class: compile_plan(catalog, plan, item_class) for item_class in sorted({item.item_class.name for item in items})}

    _assert_columnar_equals_row_path(catalog, items, stored, programs)


def _assert_columnar_equals_row_path(
    catalog: Catalog, items: list[TypedItem], stored: dict[CounterKey, Decimal], programs: dict[str, ColumnarPlan]
) -> None:
    """Every refusal, rounded amount, allowance used up and counter move of the columnar pricing equals ``rate_item``'s."""
    plan = catalog.charge_plan("plan")
    assert plan is not None
    specs = {spec.name: spec for spec in plan.counters}
    # A cap's counter is counted in the cap's denominator (the program's scale): what it lets through is a fraction.
    scales = {name: max(program.scales.get(name, 1) for program in programs.values()) for name in specs}
    before_base = {
        name: _whole(spec.unit.to_base(stored.get(_key(catalog, name), spec.initial)) * scales[name]) for name, spec in specs.items()
    }
    expected, final_state = _row_path(catalog, stored, items)
    priced = _columnar(_frame(catalog, items, programs, before_base), programs)

    moves = dict.fromkeys(specs, 0)
    for row, (item, want) in enumerate(zip(items, expected, strict=True)):
        program = programs[item.item_class.name]
        got = priced[item.item_class.name].filter(pl.col("row") == row).row(0, named=True)
        assert got["refusal"] == want.refusal, (row, item)
        if want.refusal is not None:
            continue
        for charge in program.charges:
            decimals = charge.charge.rounding.decimals
            row_amount = want.amounts[charge.charge.name]
            assert row_amount == row_amount.scaleb(decimals).to_integral_value().scaleb(-decimals), "rate_item rounds to the decimals"
            assert got[f"a{charge.index}"] == int(row_amount.scaleb(decimals)), (row, item, charge.charge.name, row_amount)
        used_up = {column[2:] for column, value in got.items() if column.startswith("u:") and value}
        assert used_up == want.used_up, (row, item)
        reached = {column[2:] for column, value in got.items() if column.startswith("r:") and value}
        assert reached == want.reached, (row, item)
        for column, value in got.items():
            if column.startswith("m:"):
                moves[column[2:]] += value
    for name, spec in specs.items():
        final = spec.unit.to_base(final_state.counters.get(_key(catalog, name), spec.initial)) * scales[name]
        assert before_base[name] + moves[name] == final, name


# ---- schedules: a duration cut at the edges it crosses, each part priced by its window -----------------------

SCHEDULE_CHARGES = ("voice", "surcharge", "data", "sms")

# Holidays on the days summer time starts and ends in Paris, and on a Wednesday. A discount prices the week-end and a cap
# the night's first minute: each part an edge cuts is priced, discounted and capped as a quantity of its own.
SCHEDULE_PLAN_YAML = """\
counters:
  - {name: free, scope: contract_item, unit: seconds, initial: 300}
charges:
  - name: voice
    item_class: call
    price:
      type: allowance
      counter: free
      then:
        type: schedule
        time_zone: Europe/Paris
        calendar: holidays
        windows:
          - days: [mon, tue, wed, thu, fri]
            from: "08:00"
            to: "20:00"
            price: {type: connect_fee, amount: "0.05", then: {type: rate, amount: "0.60", unit: minutes, increment: 1}}
          - days: [sat, sun]
            price: {type: discount, percent: "12.5", price: {type: rate, amount: "0.013", unit: seconds, minimum: 30, increment: 6}}
          - {days: [holiday], price: {type: flat, amount: "0.25"}}
          - from: "00:00"
            to: "06:00"
            price:
              type: tiers
              bands:
                - {up_to: 60, price: {type: cap, maximum: "0.05", price: {type: rate, amount: "0.06", unit: minutes, increment: 1}}}
                - price: {type: rate, amount: "0.001", unit: seconds}
        default: {type: rate, amount: "0.30", unit: minutes}
  - name: surcharge
    item_class: call
    price:
      type: switch
      property: network
      cases:
        home: {type: flat, amount: "0"}
        roaming:
          type: schedule
          time_zone: America/New_York
          windows:
            - from: "09:00"
              to: "17:30"
              price:
                type: prefix
                property: destination
                prefixes:
                  "33": {type: rate, amount: "0.07", unit: minutes, minimum: 1, increment: 0.5}
                default: {type: flat, amount: "0.01"}
            - {price: {type: rate, amount: "-0.002", unit: seconds}}
      default:
        type: tiers
        mode: graduated
        bands:
          - up_to: 120
            price:
              type: schedule
              time_zone: Asia/Kolkata
              windows:
                - {from: "00:00", to: "12:00", price: {type: rate, amount: "0.011", unit: seconds, increment: 6}}
                - {from: "12:00", to: "24:00", price: {type: rate, amount: "0.017", unit: seconds}}
          - price: {type: rate, amount: "0.005", unit: seconds}
  - name: data
    item_class: data
    price:
      type: schedule
      time_zone: Asia/Tokyo
      windows:
        - {from: "01:00", to: "07:00", price: {type: rate, amount: "0.001", unit: megabytes}}
      default:
        type: tiers
        mode: volume
        unit: megabytes
        bands:
          - {up_to: 10, price: {type: flat, amount: "0.5"}}
          - price: {type: rate, amount: "0.004", unit: megabytes}
  - name: sms
    item_class: sms
    price:
      type: schedule
      time_zone: Europe/Paris
      calendar: holidays
      windows:
        - {days: [holiday], price: {type: flat, amount: "0"}}
        - {from: "20:00", to: "24:00", price: {type: rate, amount: "0.05", unit: events}}
      default: {type: flat, amount: "0.10"}
"""

SCHEDULE_CALENDARS_YAML = """\
calendars:
  - name: holidays
    dates: ["2024-03-31", "2024-10-27", "2024-12-25"]
"""

# Around the changes of summer time in Paris (31 March and 27 October 2024, 01:00 UTC) and New York (10 March and
# 3 November 2024), a week-end evening, a working day's edges, a holiday on a Wednesday, a new year in Tokyo.
SCHEDULE_INSTANTS = (
    datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
    datetime(2024, 10, 26, 23, 0, tzinfo=UTC),
    datetime(2024, 3, 10, 6, 30, tzinfo=UTC),
    datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
    datetime(2024, 3, 9, 18, 59, tzinfo=UTC),
    datetime(2024, 3, 5, 6, 58, tzinfo=UTC),
    datetime(2024, 3, 5, 18, 59, 30, tzinfo=UTC),
    datetime(2024, 12, 24, 22, 50, tzinfo=UTC),
    datetime(2024, 12, 31, 15, 59, tzinfo=UTC),
)


def _schedule_catalog(roundings: dict[str, tuple[int, RoundingMode]]) -> Catalog:
    document = parse_yaml(SCHEDULE_CALENDARS_YAML + ITEM_CLASSES_YAML)
    plan: dict[str, Any] = {"name": "plan", "currency": "EUR", **parse_yaml(SCHEDULE_PLAN_YAML)}
    for charge in plan["charges"]:
        decimals, mode = roundings[charge["name"]]
        charge["rounding"] = {"decimals": decimals, "mode": mode.value}
        charge["account_role"] = "postpaid"
    document["charge_plans"] = [plan]
    return catalog_from_document(document, source="tariff.yaml")


scheduled_strategy = st.tuples(
    st.one_of(
        st.tuples(
            st.just("call"),
            st.fixed_dictionaries(
                {
                    "duration": st.one_of(
                        st.just(0),
                        st.integers(min_value=0, max_value=400),
                        st.integers(min_value=0, max_value=4 * 86_400),
                        st.sampled_from([1, 30, 60, 61, 3599, 3600, 3601, 7200]),
                    ),
                    "destination": st.sampled_from(["33123", "44", "0"]),
                    "network": st.sampled_from(["home", "roaming", "satellite"]),
                }
            ),
        ),
        st.tuples(st.just("data"), st.fixed_dictionaries({"volume": st.integers(min_value=0, max_value=50_000_000)})),
        st.tuples(st.just("sms"), st.fixed_dictionaries({"count": st.integers(min_value=0, max_value=3)})),
    ),
    st.sampled_from(SCHEDULE_INSTANTS),
    st.integers(min_value=-3 * 3600, max_value=3 * 3600),
)


@settings(max_examples=150, deadline=None)
@given(
    roundings=st.fixed_dictionaries(
        {name: st.tuples(st.integers(min_value=0, max_value=4), st.sampled_from(ROUNDING_MODES)) for name in SCHEDULE_CHARGES}
    ),
    drawn=st.lists(scheduled_strategy, min_size=1, max_size=12),
    free=st.one_of(st.none(), st.integers(min_value=0, max_value=4000)),
)
def test_columnar_schedules_equal_rate_item_item_after_item(
    roundings: dict[str, tuple[int, RoundingMode]],
    drawn: list[tuple[tuple[str, dict[str, object]], datetime, int]],
    free: int | None,
) -> None:
    # Durations cross windows' edges, local midnights, holidays and changes of summer time; what reaches the Paris
    # schedule is what the allowance leaves; a schedule sits in a switch's case and in a band of tiers.
    catalog = _schedule_catalog(roundings)
    plan = catalog.charge_plan("plan")
    assert plan is not None
    items = [
        typed(catalog, item_class, properties, consumed_at=instant + timedelta(seconds=shift))
        for (item_class, properties), instant, shift in drawn
    ]
    stored = {_key(catalog, "free"): Decimal(free)} if free is not None else {}
    programs = {item_class: compile_plan(catalog, plan, item_class) for item_class in sorted({item.item_class.name for item in items})}

    _assert_columnar_equals_row_path(catalog, items, stored, programs)


TIES_AND_NEAR_TIES = ("0.5", "-0.5", "1.5", "-1.5", "0.25", "-0.25", "0.00001", "-0.00001", "2.675", "-2.675", "0", "7")


@pytest.mark.parametrize(
    ("decimals", "mode"),
    [pytest.param(decimals, mode, id=f"{mode}-{decimals}") for mode in RoundingMode for decimals in range(5)],
)
def test_every_rounding_mode_and_decimals_round_flat_amounts_like_rate_item(decimals: int, mode: RoundingMode) -> None:
    for text in TIES_AND_NEAR_TIES:
        for scaled in (text, str(Decimal(text).scaleb(-decimals))):
            catalog = load_catalog(
                ITEM_CLASSES_YAML
                + f"""\
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: main
        item_class: sms
        rounding: {{decimals: {decimals}, mode: {mode.value}}}
        price: {{type: flat, amount: "{scaled}"}}
"""
            )
            plan = catalog.charge_plan("plan")
            assert plan is not None
            item = typed(catalog, "sms", {"count": 1})
            (charged,) = rate_item(catalog, RatingState(contract("plan"), {}), item).charged_items
            program = compile_plan(catalog, plan, "sms")
            frame = _frame(catalog, [item], {"sms": program}, {}).with_columns(live=pl.lit(value=True))
            got = program.priced(frame.lazy()).collect()["a0"][0]
            assert got == int(charged.amount.scaleb(decimals)), (scaled, charged.amount)


def _plan_of(text: str) -> tuple[Catalog, Any]:
    catalog = load_catalog(ITEM_CLASSES_YAML + text)
    plan = catalog.charge_plan("plan")
    assert plan is not None
    return catalog, plan


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        pytest.param('{type: no_access, message: "no calls at night"}', "no_access inside a schedule", id="no-access-in-a-window"),
        pytest.param(
            "{type: allowance, counter: free, then: {type: rate, amount: 0.01, unit: seconds}}",
            "allowance inside a schedule window",
            id="allowance-in-a-window",
        ),
        pytest.param(
            "{type: tiers, counter: free, bands: [{up_to: 60, price: {type: flat, amount: 1}}, {price: {type: flat, amount: 2}}]}",
            "tiers over a counter inside a schedule window",
            id="tiers-over-a-counter-in-a-window",
        ),
        pytest.param(
            '{type: schedule, time_zone: Asia/Tokyo, windows: [{price: {type: flat, amount: "0.10"}}]}',
            "schedule inside a schedule window",
            id="schedule-in-a-window",
        ),
    ],
)
def test_a_schedule_whose_window_depends_on_more_than_its_parts_is_not_columnar(window: str, reason: str) -> None:
    catalog, plan = _plan_of(f"""\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {{name: free, unit: seconds, initial: 60}}
    charges:
      - name: main
        item_class: call
        price:
          type: schedule
          time_zone: Europe/Paris
          windows:
            - {{from: "08:00", to: "20:00", price: {{type: rate, amount: "0.60", unit: minutes}}}}
            - {{price: {window}}}
""")

    with pytest.raises(Unsupported, match=reason):
        compile_plan(catalog, plan, "call")


def test_a_schedule_with_times_no_window_holds_is_not_columnar() -> None:
    catalog, plan = _plan_of("""\
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: main
        item_class: call
        price:
          type: schedule
          time_zone: Europe/Paris
          windows:
            - {from: "08:00", to: "20:00", price: {type: rate, amount: "0.60", unit: minutes}}
""")

    with pytest.raises(Unsupported, match="no window holds"):
        compile_plan(catalog, plan, "call")


def test_a_schedule_part_with_a_fraction_of_a_second_is_left_to_the_row_path() -> None:
    catalog = _schedule_catalog(dict.fromkeys(SCHEDULE_CHARGES, (2, RoundingMode.HALF_UP)))
    plan = catalog.charge_plan("plan")
    assert plan is not None
    # 07:59:59.5 in Paris: the call crosses 08:00 half a second in.
    at = datetime(2024, 3, 5, 6, 59, 59, 500_000, tzinfo=UTC)
    items = [typed(catalog, "call", {"duration": 10}, consumed_at=at)]
    programs = {"call": compile_plan(catalog, plan, "call")}

    with pytest.raises(ScheduleTooFine, match="not a whole number of seconds"):
        _columnar(_frame(catalog, items, programs, {"free": 0}), programs)


def test_a_counter_that_resets_monthly_with_a_threshold_is_columnar() -> None:
    catalog, plan = _plan_of("""\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {name: free, unit: minutes, initial: 60, reset: monthly, time_zone: Europe/Paris, thresholds: [{value: 10, direction: down}]}
    charges:
      - name: main
        item_class: call
        price: {type: allowance, counter: free, then: {type: rate, amount: "0.01", unit: seconds}}
""")

    assert compile_plan(catalog, plan, "call").counters["free"].name == "free"


def test_a_counter_consumed_by_allowances_of_two_shapes_is_not_columnar() -> None:
    catalog, plan = _plan_of("""\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {name: free, unit: seconds, initial: 60}
    charges:
      - name: main
        item_class: call
        price:
          type: switch
          property: network
          cases:
            home: {type: allowance, counter: free, then: {type: rate, amount: "0.01", unit: seconds}}
            roaming: {type: allowance, counter: free, then: {type: flat, amount: "0.10"}}
          default: {type: flat, amount: "0.20"}
""")

    with pytest.raises(Unsupported, match="different shapes"):
        compile_plan(catalog, plan, "call")


def test_a_counter_used_by_two_charges_is_not_columnar() -> None:
    catalog, plan = _plan_of("""\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {name: free, unit: seconds, initial: 60}
    charges:
      - name: first
        item_class: call
        price: {type: allowance, counter: free, then: {type: rate, amount: "0.01", unit: seconds}}
      - name: second
        item_class: call
        price: {type: allowance, counter: free, then: {type: flat, amount: "0.10"}}
""")

    with pytest.raises(Unsupported, match="two charges"):
        compile_plan(catalog, plan, "call")


# ---- bounds: the integer form is used only where Int128 cannot overflow --------------------------------------

BIG_RATES_YAML = """\
charges:
  - name: voice
    item_class: call
    rounding: {decimals: 6, mode: half_even}
    price:
      type: connect_fee
      amount: "0.05"
      then:
        type: tiers
        bands:
          - up_to: 60
            price: {type: rate, amount: "1.90", unit: minutes, increment: 1}
          - price: {type: rate, amount: "123456.789", unit: seconds, per: 7}
"""


def _largest_fitting(program: ColumnarPlan) -> int:
    """The largest quantity bound the plan accepts (its check is monotone in the bound)."""
    low, high = 0, 2**127
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if program.fits(middle) else (low, middle)
    return low


def _priced_units(catalog: Catalog, program: ColumnarPlan, seconds: int) -> int:
    frame = pl.DataFrame({"row": [0], "contract_id": [CONTRACT_ID], "plan": ["plan"], "item_class": ["call"], "live": [True]})
    frame = frame.with_columns(q=pl.lit(seconds, INT))
    (charge,) = program.charges
    return int(program.priced(frame.lazy()).collect()[f"a{charge.index}"][0])


def _big_rates_catalog(wrapped: dict[str, Any] | None = None) -> Catalog:
    """The plan of ``BIG_RATES_YAML``, its price put under ``wrapped`` (a discount or a cap without its ``price``)."""
    document = parse_yaml(ITEM_CLASSES_YAML)
    plan: dict[str, Any] = {"name": "plan", "currency": "EUR", **parse_yaml(BIG_RATES_YAML)}
    (charge,) = plan["charges"]
    if wrapped is not None:
        charge["price"] = {**wrapped, "price": charge["price"]}
    document["charge_plans"] = [plan]
    return catalog_from_document(document, source="tariff.yaml")


@pytest.mark.parametrize(
    "wrapped",
    [
        pytest.param(None, id="rates"),
        # A discount multiplies the numerator by the kept part's numerator (66667 over 100000): a smaller bound.
        pytest.param({"type": "discount", "percent": "33.333"}, id="under-a-discount"),
    ],
)
def test_the_integer_form_is_exact_up_to_its_bound_and_refused_past_it(wrapped: dict[str, Any] | None) -> None:
    catalog = _big_rates_catalog(wrapped)
    plan = catalog.charge_plan("plan")
    assert plan is not None
    program = compile_plan(catalog, plan, "call")
    bound = _largest_fitting(program)
    # A per-7 rate of 123456.789 a second, rounded to 6 places, leaves room for ~10^23 s; 66667 times less under the discount.
    assert 10**15 < bound < 10**30

    def exact_units(seconds: int) -> int:
        charged = rate_item(catalog, RatingState(contract("plan"), {}), typed(catalog, "call", {"duration": str(seconds)})).charged_items[0]
        units = Fraction(charged.amount) * 10**6
        assert units.denominator == 1
        return int(units)

    # At the bound the columnar amount is the exact one; past it the plan refuses the chunk (the row path prices it).
    assert _priced_units(catalog, program, bound) == exact_units(bound)
    assert not program.fits(bound + 1)
    # Not a needless refusal: far enough past the bound, Int128 wraps around and the integer form would be wrong.
    far = bound * 10**6
    assert _priced_units(catalog, program, far) != exact_units(far)


def test_a_discount_and_a_cap_narrow_the_integer_form_by_their_factor_and_maximum() -> None:
    plain = _largest_fitting(_only_program(_big_rates_catalog()))
    discounted = _largest_fitting(_only_program(_big_rates_catalog({"type": "discount", "percent": "12.5"})))
    capped = _largest_fitting(_only_program(_big_rates_catalog({"type": "cap", "maximum": "1000000000000000000000000"})))

    # 87.5 % kept is 7/8: the numerator is 7 times the child's (over 8 times its denominator).
    assert plain // 8 <= discounted <= plain // 7
    # The maximum (10^24, times the common denominator) is added to the child's constant, never its per-unit part.
    assert 0 < capped < plain


def _only_program(catalog: Catalog) -> ColumnarPlan:
    plan = catalog.charge_plan("plan")
    assert plan is not None
    return compile_plan(catalog, plan, "call")


CAP_OVER_A_COUNTER_YAML = """\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {name: spent, unit: amount}
    charges:
      - name: main
        item_class: call
        rounding: {decimals: 3, mode: half_even}
        price:
          type: cap
          maximum: "0.30"
          counter: spent
          price:
            type: switch
            property: destination
            cases: {"1": {type: flat, amount: "0.1"}, "2": {type: flat, amount: "0.2"}, "5": {type: flat, amount: "-0.05"}}
            default: {type: rate, amount: "0.01", unit: seconds, per: 3}
"""


@pytest.mark.parametrize(
    ("spent", "destinations"),
    [
        pytest.param(None, "1 5 2 1", id="reached-exactly-by-the-third-a-negative-amount-lets-nothing-through"),
        pytest.param(None, "2 1 1", id="reached-part-way-through-the-second"),
        pytest.param("0.30", "1 2", id="at-the-maximum-already-nothing-more"),
        pytest.param("7", "1 5 1", id="past-the-maximum-nothing-moves"),
        pytest.param("-0.5", "2 2 2 1 1", id="a-negative-start-lets-more-through"),
        pytest.param("0.1", "0 0 0 2 0", id="thirds-of-a-cent-add-up-to-the-maximum"),
    ],
)
def test_a_cap_over_a_counter_lets_through_what_rate_item_lets_through(spent: str | None, destinations: str) -> None:
    catalog = load_catalog(ITEM_CLASSES_YAML + CAP_OVER_A_COUNTER_YAML)
    plan = catalog.charge_plan("plan")
    assert plan is not None
    items = [typed(catalog, "call", {"duration": 10, "destination": destination}) for destination in destinations.split()]
    stored = {_key(catalog, "spent"): Decimal(spent)} if spent is not None else {}
    programs = {"call": compile_plan(catalog, plan, "call")}

    _assert_columnar_equals_row_path(catalog, items, stored, programs)


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        pytest.param(
            "{type: tiers, bands: [{up_to: 60, price: {type: cap, maximum: 1, counter: spent, price: {type: flat, amount: 2}}},"
            " {price: {type: flat, amount: 1}}]}",
            "inside tiers or a schedule window",
            id="in-a-band-of-tiers",
        ),
        pytest.param(
            "{type: sum, parts: [{type: cap, maximum: 1, counter: spent, price: {type: flat, amount: 2}},"
            " {type: cap, maximum: 1, counter: spent, price: {type: rate, amount: 1, unit: seconds}}]}",
            "caps of different shapes or maxima",
            id="two-caps-of-one-counter",
        ),
        pytest.param(
            "{type: switch, property: network, cases: {home: {type: cap, maximum: 1, counter: spent, price: {type: flat, amount: 2}}},"
            " default: {type: cap, maximum: 2, counter: spent, price: {type: flat, amount: 3}}}",
            "caps of different shapes or maxima",
            id="alike-caps-of-one-counter-with-other-maxima",
        ),
    ],
)
def test_a_cap_over_a_counter_priced_more_than_once_per_item_is_not_columnar(price: str, reason: str) -> None:
    catalog, plan = _plan_of(f"""\
charge_plans:
  - name: plan
    currency: EUR
    counters:
      - {{name: spent, unit: amount}}
    charges:
      - name: main
        item_class: call
        price: {price}
""")

    with pytest.raises(Unsupported, match=reason):
        compile_plan(catalog, plan, "call")

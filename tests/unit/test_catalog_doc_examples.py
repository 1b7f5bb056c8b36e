"""Every worked example of docs/catalog.md, rated: the YAML here is the YAML there, word for word.

Each example is the doc's item classes (``ITEM_CLASSES``) followed by the example's
``charge_plans``; the amounts asserted are the ones the doc works out by hand.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from rating_support import counters_after, load_catalog, rate

from kopek.domain.catalog import Catalog
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, Reason
from kopek.rating.outcome import NotificationKind, RatingOutcome

ITEM_CLASSES = textwrap.dedent("""\
    item_classes:
      - name: call
        quantity: duration
        properties:
          - {name: duration, type: decimal, unit: seconds}
          - {name: destination, type: string, default: ""}
          - {name: network, type: string, default: home}
          - {name: hour, type: integer, default: 12}
      - name: data
        quantity: volume
        properties:
          - {name: volume, type: integer, unit: bytes}
          - {name: pack_size, type: integer, default: 1}
      - name: sms
        properties:
          - {name: destination, type: string}
""")


def example(plan: str) -> Catalog:
    return load_catalog(ITEM_CLASSES + textwrap.dedent(plan))


def charged(outcome: RatingOutcome) -> list[Decimal]:
    return [item.amount for item in outcome.charged_items]


FLAT = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: sms
            item_class: sms
            price: {type: flat, amount: 0.09}
"""


def test_flat() -> None:
    outcome = rate(example(FLAT), {"destination": "447700900123"}, item_class="sms", plans=("example",))

    assert charged(outcome) == [Decimal("0.09")]


CONNECT_FEE = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: connect_fee
              amount: 0.10
              then: {type: rate, amount: 0.60, unit: minutes}
"""


def test_connect_fee() -> None:
    assert charged(rate(example(CONNECT_FEE), {"duration": "90"}, plans=("example",))) == [Decimal("1.00")]


SUM = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: sum
              parts:
                - {type: rate, amount: 0.50, unit: minutes, increment: 1}
                - {type: flat, amount: 0.05}
"""


def test_sum() -> None:
    assert charged(rate(example(SUM), {"duration": "45"}, plans=("example",))) == [Decimal("0.55")]


RATE = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price: {type: rate, amount: 0.60, unit: minutes}
          - name: data
            item_class: data
            price: {type: rate, amount: 2.00, unit: gigabytes}
"""


def test_rate() -> None:
    catalog = example(RATE)

    assert charged(rate(catalog, {"duration": "100"}, plans=("example",))) == [Decimal("1.00")]
    assert charged(rate(catalog, {"volume": 1500000000}, item_class="data", plans=("example",))) == [Decimal("3.00")]


RATE_PER = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: data
            item_class: data
            price: {type: rate, amount: 0.25, unit: megabytes, per: 100}
"""


def test_rate_per() -> None:
    assert charged(rate(example(RATE_PER), {"volume": 340000000}, item_class="data", plans=("example",))) == [Decimal("0.85")]


RATE_INCREMENT = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price: {type: rate, amount: 0.60, unit: minutes, increment: 1}
"""


def test_rate_increment() -> None:
    assert charged(rate(example(RATE_INCREMENT), {"duration": "61"}, plans=("example",))) == [Decimal("1.20")]


RATE_MINIMUM = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price: {type: rate, amount: 0.60, unit: minutes, minimum: 1, increment: 0.5}
"""


@pytest.mark.parametrize(
    ("duration", "expected"),
    [pytest.param("10", "0.60", id="10-seconds"), pytest.param("75", "0.90", id="75-seconds")],
)
def test_rate_minimum(duration: str, expected: str) -> None:
    assert charged(rate(example(RATE_MINIMUM), {"duration": duration}, plans=("example",))) == [Decimal(expected)]


RATE_PER_PROPERTY = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: data_packs
            item_class: data
            price: {type: rate, amount: 1.00, unit: megabytes, per_property: pack_size}
"""


def test_rate_per_property() -> None:
    catalog = example(RATE_PER_PROPERTY)

    assert charged(rate(catalog, {"volume": 12000000, "pack_size": 4}, item_class="data", plans=("example",))) == [Decimal("3.00")]
    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"volume": 12000000, "pack_size": 0}, item_class="data", plans=("example",))
    assert raised.value.code is Code.DIVISION_BY_ZERO


TIERS_GRADUATED = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: tiers
              mode: graduated
              bands:
                - up_to: 60
                  price: {type: rate, amount: 0.02, unit: seconds}
                - up_to: 300
                  price: {type: rate, amount: 0.01, unit: seconds}
                - price: {type: rate, amount: 0.005, unit: seconds}
"""


@pytest.mark.parametrize(
    ("duration", "expected"),
    [pytest.param("400", "4.10", id="400-seconds"), pytest.param("0", "0.00", id="0-seconds")],
)
def test_tiers_graduated(duration: str, expected: str) -> None:
    assert charged(rate(example(TIERS_GRADUATED), {"duration": duration}, plans=("example",))) == [Decimal(expected)]


TIERS_VOLUME = TIERS_GRADUATED.replace("mode: graduated", "mode: volume")


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("60", "1.20", id="60-seconds"),
        pytest.param("61", "0.61", id="61-seconds"),
        pytest.param("300", "3.00", id="300-seconds"),
        pytest.param("400", "2.00", id="400-seconds"),
    ],
)
def test_tiers_volume(duration: str, expected: str) -> None:
    assert charged(rate(example(TIERS_VOLUME), {"duration": duration}, plans=("example",))) == [Decimal(expected)]


FIRST_MINUTE_THEN_PER_SECOND = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: tiers
              bands:
                - up_to: 60
                  price: {type: rate, amount: 0.60, unit: minutes, increment: 1}
                - price: {type: rate, amount: 0.01, unit: seconds, increment: 1}
"""


@pytest.mark.parametrize(
    ("duration", "expected"),
    [pytest.param("10", "0.60", id="10-seconds"), pytest.param("125.5", "1.26", id="125.5-seconds")],
)
def test_first_minute_then_per_second(duration: str, expected: str) -> None:
    assert charged(rate(example(FIRST_MINUTE_THEN_PER_SECOND), {"duration": duration}, plans=("example",))) == [Decimal(expected)]


TIERS_ON_A_COUNTER = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: megabytes_used, unit: megabytes}
        charges:
          - name: data
            item_class: data
            price:
              type: tiers
              counter: megabytes_used
              bands:
                - up_to: 1000
                  price: {type: rate, amount: 0.01, unit: megabytes}
                - price: {type: rate, amount: 0.005, unit: megabytes}
            counter_updates:
              - {counter: megabytes_used, add: quantity}
"""


def test_tiers_on_a_counter() -> None:
    outcome = rate(
        example(TIERS_ON_A_COUNTER), {"volume": 250000000}, item_class="data", counters={"megabytes_used": 900}, plans=("example",)
    )

    assert charged(outcome) == [Decimal("1.75")]
    assert counters_after(outcome) == {"megabytes_used": Decimal(1150)}


SWITCH = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: switch
              property: network
              cases:
                home: {type: rate, amount: 0.01, unit: seconds}
                roaming: {type: rate, amount: 0.05, unit: seconds}
              default: {type: rate, amount: 0.10, unit: seconds}
"""


@pytest.mark.parametrize(
    ("network", "expected"),
    [pytest.param("roaming", "3.00", id="roaming"), pytest.param("satellite", "6.00", id="satellite")],
)
def test_switch(network: str, expected: str) -> None:
    assert charged(rate(example(SWITCH), {"duration": "60", "network": network}, plans=("example",))) == [Decimal(expected)]


def test_switch_without_default() -> None:
    catalog = example(SWITCH.replace("              default: {type: rate, amount: 0.10, unit: seconds}\n", ""))

    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"duration": "60", "network": "satellite"}, plans=("example",))

    assert raised.value.code is Code.NO_PRICE_FOR_VALUE


PREFIX = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: prefix
              property: destination
              prefixes:
                "44": {type: rate, amount: 0.20, unit: minutes}
                "447": {type: rate, amount: 0.30, unit: minutes}
                "4420": {type: rate, amount: 0.10, unit: minutes}
              default: {type: rate, amount: 1.00, unit: minutes}
"""


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        pytest.param("447700900123", "0.45", id="uk-mobile"),
        pytest.param("442079460000", "0.15", id="london"),
        pytest.param("3312345678", "1.50", id="elsewhere"),
    ],
)
def test_prefix(destination: str, expected: str) -> None:
    outcome = rate(example(PREFIX), {"duration": "90", "destination": destination}, plans=("example",))

    assert charged(outcome) == [Decimal(expected)]


RANGE = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: range
              property: hour
              ranges:
                - {from: 8, to: 20, price: {type: rate, amount: 0.01, unit: seconds}}
                - {to: 8, price: {type: rate, amount: 0.005, unit: seconds}}
                - {from: 20, price: {type: rate, amount: 0.005, unit: seconds}}
"""


@pytest.mark.parametrize(
    ("hour", "expected"),
    [pytest.param(8, "1.20", id="8-o-clock"), pytest.param(20, "0.60", id="20-o-clock")],
)
def test_range(hour: int, expected: str) -> None:
    assert charged(rate(example(RANGE), {"duration": "120", "hour": hour}, plans=("example",))) == [Decimal(expected)]


ALLOWANCE = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: free_minutes, unit: minutes, initial: 100}
        charges:
          - name: calls
            item_class: call
            price:
              type: allowance
              counter: free_minutes
              then: {type: rate, amount: 0.60, unit: minutes, increment: 1}
"""


def test_allowance_covers_the_whole_call() -> None:
    outcome = rate(example(ALLOWANCE), {"duration": "180"}, counters={"free_minutes": 10}, plans=("example",))

    assert charged(outcome) == [Decimal("0.00")]
    assert counters_after(outcome) == {"free_minutes": Decimal(7)}


def test_allowance_covers_part_of_the_call() -> None:
    outcome = rate(example(ALLOWANCE), {"duration": "200"}, counters={"free_minutes": "1.5"}, plans=("example",))

    assert charged(outcome) == [Decimal("1.20")]
    assert counters_after(outcome) == {"free_minutes": Decimal(0)}
    assert [notification.kind for notification in outcome.notifications] == [NotificationKind.ALLOWANCE_EXHAUSTED]


NO_ACCESS = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: switch
              property: network
              cases:
                home: {type: rate, amount: 0.01, unit: seconds}
              default: {type: no_access, message: roaming is barred}
"""


def test_no_access() -> None:
    catalog = example(NO_ACCESS)

    assert charged(rate(catalog, {"duration": "60", "network": "home"}, plans=("example",))) == [Decimal("0.60")]
    with pytest.raises(IllegalStateError) as raised:
        rate(catalog, {"duration": "60", "network": "roaming"}, plans=("example",))

    assert (raised.value.code, raised.value.reason) == (Code.SERVICE_NOT_ACCESSIBLE, Reason.NOT_AUTHORIZED)
    assert [notification.kind for notification in raised.value.notifications] == [NotificationKind.NO_ACCESS]


VERSIONS = """\
    charge_plans:
      - name: example
        version: 1
        currency: EUR
        charges:
          - name: sms
            item_class: sms
            price: {type: flat, amount: 0.10}
      - name: example
        version: 2
        effective_from: 2024-07-01
        currency: EUR
        charges:
          - name: sms
            item_class: sms
            price: {type: flat, amount: 0.08}
"""


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param("2024-06-30T23:59:00+00:00", "0.10", id="version_1"),
        pytest.param("2024-07-01T00:00:00+00:00", "0.08", id="version_2"),
    ],
)
def test_versions(at: str, expected: str) -> None:
    outcome = rate(
        example(VERSIONS), {"destination": "33612345678"}, item_class="sms", plans=("example",), consumed_at=datetime.fromisoformat(at)
    )

    assert charged(outcome) == [Decimal(expected)]


SCHEDULE = """\
    calendars:
      - name: fr_holidays
        dates: ["2024-12-25", "2025-01-01"]
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: schedule
              time_zone: Europe/Paris
              calendar: fr_holidays
              windows:
                - days: [mon, tue, wed, thu, fri]
                  from: "08:00"
                  to: "20:00"
                  price: {type: rate, amount: 0.60, unit: minutes}
                - price: {type: rate, amount: 0.30, unit: minutes}
                - days: [holiday]
                  price: {type: rate, amount: 0.12, unit: minutes}
"""


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        pytest.param("2024-03-05T19:55:00+01:00", "600", "4.50", id="peak_to_off_peak"),
        pytest.param("2024-12-24T23:50:00+01:00", "1200", "4.20", id="midnight_into_a_holiday"),
        pytest.param("2024-12-25T10:00:00+01:00", "600", "1.20", id="a_holiday_on_a_working_day"),
    ],
)
def test_schedule(start: str, seconds: str, expected: str) -> None:
    outcome = rate(example(SCHEDULE), {"duration": seconds}, plans=("example",), consumed_at=datetime.fromisoformat(start))

    assert charged(outcome) == [Decimal(expected)]


SCHEDULE_SUMMER_TIME = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: schedule
              time_zone: Europe/Paris
              windows:
                - {from: "00:00", to: "06:00", price: {type: rate, amount: 0.06, unit: minutes}}
                - {from: "06:00", price: {type: rate, amount: 0.60, unit: minutes}}
"""


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param("2024-03-31T01:00:00+01:00", "50.40", id="clocks_forward_night_of_4_hours"),
        pytest.param("2024-10-27T01:00:00+02:00", "18.00", id="clocks_back_night_of_6_hours"),
    ],
)
def test_schedule_over_a_change_of_summer_time(start: str, expected: str) -> None:
    outcome = rate(example(SCHEDULE_SUMMER_TIME), {"duration": 5 * 3600}, plans=("example",), consumed_at=datetime.fromisoformat(start))

    assert charged(outcome) == [Decimal(expected)]


DISCOUNT = """\
    charge_plans:
      - name: example
        currency: EUR
        charges:
          - name: calls
            item_class: call
            price:
              type: sum
              parts:
                - {type: flat, amount: 0.10}
                - type: discount
                  percent: 25
                  price: {type: rate, amount: 0.60, unit: minutes}
"""


def test_discount() -> None:
    assert charged(rate(example(DISCOUNT), {"duration": "120"}, plans=("example",))) == [Decimal("1.00")]


CAP = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: calls_spent, unit: amount}
        charges:
          - name: calls
            item_class: call
            price:
              type: cap
              maximum: 10.00
              counter: calls_spent
              price: {type: rate, amount: 0.60, unit: minutes}
"""


def test_cap() -> None:
    outcome = rate(example(CAP), {"duration": "300"}, counters={"calls_spent": "8.20"}, plans=("example",))

    assert charged(outcome) == [Decimal("1.80")]
    assert counters_after(outcome) == {"calls_spent": Decimal("10.00")}
    assert [notification.kind for notification in outcome.notifications] == [NotificationKind.CAP_REACHED]
    following = rate(example(CAP), {"duration": "300"}, counters={"calls_spent": "10.00"}, plans=("example",))
    assert charged(following) == [Decimal("0.00")]
    assert following.notifications == ()


THRESHOLDS = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - name: minutes_used
            unit: minutes
            thresholds: [{value: 50}, {value: 100}]
        charges:
          - name: calls
            item_class: call
            price: {type: rate, amount: 0.01, unit: seconds}
            counter_updates:
              - {counter: minutes_used}
"""


def test_thresholds() -> None:
    outcome = rate(example(THRESHOLDS), {"duration": "3660"}, counters={"minutes_used": 45}, plans=("example",))

    assert charged(outcome) == [Decimal("36.60")]
    assert counters_after(outcome) == {"minutes_used": Decimal(106)}
    assert [notification.data["value"] for notification in outcome.notifications] == ["50", "100"]
    following = rate(example(THRESHOLDS), {"duration": "60"}, counters={"minutes_used": 106}, plans=("example",))
    assert following.notifications == ()


ROUNDING = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: calls_made, unit: events}
        charges:
          - name: calls
            item_class: call
            account_role: postpaid
            price: {type: rate, amount: 0.67, unit: minutes}
            rounding: {decimals: 2, mode: half_even}
            output: both
            counter_updates:
              - {counter: calls_made, add: one}
"""


def test_rounding_and_the_other_charge_fields() -> None:
    outcome = rate(example(ROUNDING), {"duration": "90"}, plans=("example",))

    (item,) = outcome.charged_items
    assert (item.amount, item.account_role, item.output.value) == (Decimal("1.00"), "postpaid", "both")
    assert counters_after(outcome) == {"calls_made": Decimal(1)}


EXAMPLES = [
    FLAT,
    CONNECT_FEE,
    SUM,
    RATE,
    RATE_PER,
    RATE_INCREMENT,
    RATE_MINIMUM,
    RATE_PER_PROPERTY,
    TIERS_GRADUATED,
    TIERS_VOLUME,
    FIRST_MINUTE_THEN_PER_SECOND,
    TIERS_ON_A_COUNTER,
    SWITCH,
    PREFIX,
    RANGE,
    ALLOWANCE,
    NO_ACCESS,
    SCHEDULE,
    SCHEDULE_SUMMER_TIME,
    DISCOUNT,
    CAP,
    THRESHOLDS,
    VERSIONS,
    ROUNDING,
]
"""The YAML of every example, in the order of the doc; each appears there dedented, word for word."""


def test_every_example_is_in_the_doc_word_for_word() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text(encoding="utf-8")

    assert [textwrap.dedent(text) in doc for text in EXAMPLES] == [True] * len(EXAMPLES)

"""Each pricing node, with the amount worked out by hand in a comment.

Tariffs are YAML text; ``rating_support.tariff`` places the node as the price of the
one charge of the standard plan (4 decimals, half_up) and ``rate`` rates one item.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest
from rating_support import ITEM_CLASSES_YAML, amount, counters_after, load_catalog, rate, tariff

from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, Reason
from kopek.rating.outcome import NotificationKind

# ---- flat, connect_fee, sum -------------------------------------------------------


@pytest.mark.parametrize(
    "duration",
    [pytest.param("0", id="zero-seconds"), pytest.param("1", id="one-second"), pytest.param("3600", id="one-hour")],
)
def test_flat_charges_its_amount_whatever_the_quantity(duration: str) -> None:
    catalog = tariff("""
        type: flat
        amount: 0.25
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal("0.2500")


def test_connect_fee_is_added_once_to_the_price_of_the_usage() -> None:
    catalog = tariff("""
        type: connect_fee
        amount: 0.10
        then: {type: rate, amount: 0.60, unit: minutes}
    """)

    # 0.10 + 90 s / 60 s × 0.60 = 0.10 + 0.90 = 1.00
    assert amount(rate(catalog, {"duration": "90"})) == Decimal("1.0000")


@pytest.mark.parametrize(
    "duration",
    [pytest.param("0", id="zero-seconds"), pytest.param("45", id="some-seconds")],
)
def test_connect_fee_without_then_is_the_whole_price(duration: str) -> None:
    catalog = tariff("""
        type: connect_fee
        amount: 0.10
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal("0.1000")


def test_sum_adds_the_prices_of_parts_that_each_see_the_whole_item() -> None:
    catalog = tariff("""
        type: sum
        parts:
          - {type: flat, amount: 0.05}
          - {type: rate, amount: 0.01, unit: seconds}
          - {type: rate, amount: 0.30, unit: minutes, increment: 1}
    """)

    # 0.05 + 30 × 0.01 + (30 s rounded up to 1 min) × 0.30 = 0.05 + 0.30 + 0.30 = 0.65
    assert amount(rate(catalog, {"duration": "30"})) == Decimal("0.6500")


# ---- rate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "item_class", "properties", "expected"),
    [
        # 90 s = 1.5 min; 1.5 × 0.60 = 0.90
        pytest.param("{type: rate, amount: 0.60, unit: minutes}", "call", {"duration": "90"}, "0.9000", id="seconds-priced-per-minute"),
        # 1800 s = 0.5 h; 0.5 × 1.80 = 0.90
        pytest.param("{type: rate, amount: 1.80, unit: hours}", "call", {"duration": "1800"}, "0.9000", id="seconds-priced-per-hour"),
        # 2 500 000 bytes = 2.5 MB; 2.5 × 0.50 = 1.25
        pytest.param("{type: rate, amount: 0.50, unit: megabytes}", "data", {"volume": 2500000}, "1.2500", id="bytes-priced-per-megabyte"),
        # 524 288 bytes = 0.5 MiB; 0.5 × 1.00 = 0.50
        pytest.param("{type: rate, amount: 1.00, unit: mebibytes}", "data", {"volume": 524288}, "0.5000", id="bytes-priced-per-mebibyte"),
        # 3 GB = 3 × 10^9 bytes; 3 × 2.00 = 6.00
        pytest.param(
            "{type: rate, amount: 2.00, unit: gigabytes}", "data", {"volume": 3000000000}, "6.0000", id="bytes-priced-per-gigabyte"
        ),
        # 250 000 bytes = 250 kB = 2.5 × 100 kB; 2.5 × 0.50 = 1.25
        pytest.param(
            "{type: rate, amount: 0.50, unit: kilobytes, per: 100}", "data", {"volume": 250000}, "1.2500", id="per-one-hundred-kilobytes"
        ),
        # 3 events × 0.09 = 0.27
        pytest.param("{type: rate, amount: 0.09, unit: events}", "sms", {"count": 3}, "0.2700", id="events"),
    ],
)
def test_rate_converts_the_quantity_to_its_own_unit(price: str, item_class: str, properties: dict[str, object], expected: str) -> None:
    catalog = tariff(price, item_class=item_class)

    assert amount(rate(catalog, properties, item_class=item_class)) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("0", "0.0000", id="zero-is-zero-increments"),  # 0 min is already a multiple of 1 min
        pytest.param("1", "0.6000", id="one-second-is-one-minute"),  # 1 s → 1 min × 0.60
        pytest.param("60", "0.6000", id="exactly-one-minute"),  # 60 s → 1 min × 0.60
        pytest.param("61", "1.2000", id="one-second-over-is-two-minutes"),  # 61 s → 2 min × 0.60
        pytest.param("60.001", "1.2000", id="fraction-of-a-second-over"),  # 60.001 s → 2 min × 0.60
    ],
)
def test_rate_rounds_the_quantity_up_to_a_multiple_of_the_increment(duration: str, expected: str) -> None:
    catalog = tariff("""
        type: rate
        amount: 0.60
        unit: minutes
        increment: 1
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("29", "0.3000", id="below-half-a-minute"),  # 29 s → 0.5 min × 0.60
        pytest.param("31", "0.6000", id="above-half-a-minute"),  # 31 s → 1 min × 0.60
    ],
)
def test_rate_increment_is_written_in_the_rate_unit(duration: str, expected: str) -> None:
    catalog = tariff("""
        type: rate
        amount: 0.60
        unit: minutes
        increment: 0.5
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("0", "0.6000", id="zero-seconds-billed-the-minimum"),  # max(0, 60 s) = 60 s → 0.60
        pytest.param("10", "0.6000", id="short-call-billed-the-minimum"),  # max(10, 60) = 60 s → 0.60
        pytest.param("90", "0.9000", id="long-call-billed-as-is"),  # max(90, 60) = 90 s → 1.5 × 0.60
    ],
)
def test_rate_bills_at_least_the_minimum_quantity(duration: str, expected: str) -> None:
    catalog = tariff("""
        type: rate
        amount: 0.60
        unit: minutes
        minimum: 1
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("10", "0.3000", id="minimum-applies-first"),  # max(10, 30) = 30, a multiple of 6 → 30 × 0.01
        pytest.param("31", "0.3600", id="then-the-increment"),  # max(31, 30) = 31 → 36 → 36 × 0.01
    ],
)
def test_rate_applies_the_minimum_then_the_increment(duration: str, expected: str) -> None:
    catalog = tariff("""
        type: rate
        amount: 0.01
        unit: seconds
        minimum: 30
        increment: 6
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


def test_rate_per_property_divides_by_the_items_own_value() -> None:
    catalog = tariff(
        """
        type: rate
        amount: 1.00
        unit: kilobytes
        per_property: pack_size
        """,
        item_class="data",
    )

    # 12 000 bytes = 12 kB; 12 / 4 packs × 1.00 = 3.00
    outcome = rate(catalog, {"volume": 12000, "pack_size": 4}, item_class="data")

    assert amount(outcome) == Decimal("3.0000")


def test_rate_per_property_equal_to_zero_is_a_configuration_fault() -> None:
    catalog = tariff("{type: rate, amount: 1.00, unit: kilobytes, per_property: pack_size}", item_class="data")

    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"volume": 12000, "pack_size": 0}, item_class="data")

    assert raised.value.code is Code.DIVISION_BY_ZERO


# ---- tiers ---------------------------------------------------------------------------

THREE_BANDS = """
    type: tiers
    mode: {mode}
    bands:
      - up_to: 60
        price: {{type: rate, amount: 0.02, unit: seconds}}
      - up_to: 300
        price: {{type: rate, amount: 0.01, unit: seconds}}
      - price: {{type: rate, amount: 0.005, unit: seconds}}
"""


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("0", "0.0000", id="zero"),
        pytest.param("60", "1.2000", id="end-of-first-band"),  # 60 × 0.02
        pytest.param("61", "1.2100", id="one-second-into-second-band"),  # 60 × 0.02 + 1 × 0.01
        pytest.param("300", "3.6000", id="end-of-second-band"),  # 1.20 + 240 × 0.01
        pytest.param("400", "4.1000", id="into-open-band"),  # 1.20 + 2.40 + 100 × 0.005
    ],
)
def test_graduated_tiers_price_each_part_by_its_own_band(duration: str, expected: str) -> None:
    catalog = tariff(THREE_BANDS.format(mode="graduated"))

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("0", "0.0000", id="zero"),
        pytest.param("60", "1.2000", id="end-on-first-bound-stays-in-first-band"),  # first up_to >= 60 is 60: 60 × 0.02
        pytest.param("61", "0.6100", id="past-first-bound-all-at-second-band"),  # 61 × 0.01
        pytest.param("300", "3.0000", id="end-on-second-bound"),  # 300 × 0.01
        pytest.param("400", "2.0000", id="all-at-open-band"),  # 400 × 0.005
    ],
)
def test_volume_tiers_price_all_units_by_the_band_the_end_reaches(duration: str, expected: str) -> None:
    catalog = tariff(THREE_BANDS.format(mode="volume"))

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("10", "0.6000", id="short-call-pays-the-first-minute"),  # 10 s → 1 min × 0.60
        pytest.param("60", "0.6000", id="exactly-one-minute"),  # 60 s → 1 min × 0.60
        pytest.param("61", "0.6100", id="then-per-second"),  # 0.60 + 1 s × 0.01
        pytest.param("125.5", "1.2600", id="part-second-rounded-up"),  # 0.60 + 65.5 s → 66 s × 0.01
    ],
)
def test_first_minute_billed_per_minute_then_per_second(duration: str, expected: str) -> None:
    catalog = tariff("""
        type: tiers
        mode: graduated
        bands:
          - up_to: 60
            price: {type: rate, amount: 0.60, unit: minutes, increment: 1}
          - price: {type: rate, amount: 0.01, unit: seconds, increment: 1}
    """)

    assert amount(rate(catalog, {"duration": duration})) == Decimal(expected)


def test_tier_bounds_are_read_in_the_tiers_unit() -> None:
    catalog = tariff("""
        type: tiers
        unit: minutes
        bands:
          - up_to: 1
            price: {type: rate, amount: 0.02, unit: seconds}
          - price: {type: rate, amount: 0.01, unit: seconds}
    """)

    # up_to 1 minute = 60 s: 60 × 0.02 + 30 × 0.01 = 1.20 + 0.30 = 1.50
    assert amount(rate(catalog, {"duration": "90"})) == Decimal("1.5000")


COUNTER_TIERS = """
    type: tiers
    mode: {mode}
    counter: minutes_used
    bands:
      - up_to: 100
        price: {{type: rate, amount: 0.10, unit: minutes}}
      - price: {{type: rate, amount: 0.05, unit: minutes}}
"""
MINUTES_USED = "[{name: minutes_used, unit: minutes}]"
ADD_QUANTITY_TO_MINUTES_USED = "counter_updates: [{counter: minutes_used, add: quantity}]"


def test_graduated_tiers_on_a_counter_start_where_the_counter_stands() -> None:
    catalog = tariff(COUNTER_TIERS.format(mode="graduated"), counters=MINUTES_USED, charge=ADD_QUANTITY_TO_MINUTES_USED)

    # The counter stands at 99 min; a 2 min call runs from 99 to 101 min:
    # 1 min in the first band × 0.10 + 1 min in the second × 0.05 = 0.15
    outcome = rate(catalog, {"duration": "120"}, counters={"minutes_used": 99})

    assert amount(outcome) == Decimal("0.1500")
    assert counters_after(outcome) == {"minutes_used": Decimal(101)}


def test_volume_tiers_on_a_counter_price_the_item_by_the_band_the_counter_reaches() -> None:
    catalog = tariff(COUNTER_TIERS.format(mode="volume"), counters=MINUTES_USED, charge=ADD_QUANTITY_TO_MINUTES_USED)

    # 99 + 2 = 101 min reaches the second band: 2 min × 0.05 = 0.10
    outcome = rate(catalog, {"duration": "120"}, counters={"minutes_used": 99})

    assert amount(outcome) == Decimal("0.1000")


def test_graduated_tiers_price_a_zero_quantity_by_the_first_band_with_quantity_zero() -> None:
    catalog = tariff("""
        type: tiers
        bands:
          - up_to: 60
            price: {type: connect_fee, amount: 0.10, then: {type: rate, amount: 0.01, unit: seconds}}
          - price: {type: rate, amount: 0.005, unit: seconds}
    """)

    # 0 s lies in the first band: 0.10 + 0 × 0.01 = 0.10
    assert amount(rate(catalog, {"duration": "0"})) == Decimal("0.1000")


def test_graduated_tiers_on_a_counter_price_a_zero_quantity_by_the_band_the_counter_is_in() -> None:
    catalog = tariff(
        """
        type: tiers
        counter: minutes_used
        bands:
          - up_to: 100
            price: {type: connect_fee, amount: 0.10}
          - price: {type: connect_fee, amount: 0.05}
        """,
        counters=MINUTES_USED,
    )

    # The counter stands at 100 min, the first minute of the second band.
    assert amount(rate(catalog, {"duration": "0"}, counters={"minutes_used": 100})) == Decimal("0.0500")


def test_a_minute_counter_filled_by_calls_in_seconds_reaches_its_bound_exactly() -> None:
    catalog = tariff(
        """
        type: tiers
        counter: minutes_used
        bands:
          - up_to: 1
            price: {type: rate, amount: 0.60, unit: minutes, increment: 1}
          - price: {type: rate, amount: 0.01, unit: seconds}
        """,
        counters=MINUTES_USED,
        charge=ADD_QUANTITY_TO_MINUTES_USED,
    )
    stored: dict[str, Decimal] = {}
    for _ in range(30):
        stored.update(counters_after(rate(catalog, {"duration": "2"}, counters=stored)))

    # 30 calls of 2 s fill the first minute exactly; the next 2 s lie wholly in the
    # second band: 2 × 0.01 = 0.02, with no sliver of the first band billed a minute.
    assert amount(rate(catalog, {"duration": "2"}, counters=stored)) == Decimal("0.0200")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # 60 × 0.02 + 60 × 0.01 + the 80 s past the last bound, still in the last band: 80 × 0.01 = 2.60
        pytest.param("graduated", "2.6000", id="graduated"),
        # 200 s is past every bound: the last band prices all of it, 200 × 0.01 = 2.00
        pytest.param("volume", "2.0000", id="volume"),
    ],
)
def test_usage_past_a_closed_last_band_is_priced_by_the_last_band(mode: str, expected: str) -> None:
    catalog = tariff(f"""
        type: tiers
        mode: {mode}
        bands:
          - up_to: 60
            price: {{type: rate, amount: 0.02, unit: seconds}}
          - up_to: 120
            price: {{type: rate, amount: 0.01, unit: seconds}}
    """)

    assert amount(rate(catalog, {"duration": "200"})) == Decimal(expected)


# ---- switch, prefix, range -----------------------------------------------------------------

SWITCH_ON_NETWORK = """
    type: switch
    property: network
    cases:
      home: {type: rate, amount: 0.01, unit: seconds}
      roaming: {type: rate, amount: 0.05, unit: seconds}
"""


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        pytest.param("home", "0.6000", id="home"),  # 60 × 0.01
        pytest.param("roaming", "3.0000", id="roaming"),  # 60 × 0.05
        pytest.param("satellite", "6.0000", id="no-case-takes-the-default"),  # 60 × 0.10
    ],
)
def test_switch_chooses_the_case_of_the_property_value(network: str, expected: str) -> None:
    catalog = tariff(SWITCH_ON_NETWORK + "    default: {type: rate, amount: 0.10, unit: seconds}\n")

    assert amount(rate(catalog, {"duration": "60", "network": network})) == Decimal(expected)


def test_switch_without_a_matching_case_or_default_has_no_price() -> None:
    catalog = tariff(SWITCH_ON_NETWORK)

    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"duration": "60", "network": "satellite"})

    assert raised.value.code is Code.NO_PRICE_FOR_VALUE


def test_switch_on_an_integer_property_compares_its_text() -> None:
    catalog = tariff("""
        type: switch
        property: hour
        cases:
          "12": {type: flat, amount: 0.50}
        default: {type: flat, amount: 0.20}
    """)

    assert amount(rate(catalog, {"duration": "60", "hour": 12})) == Decimal("0.5000")
    assert amount(rate(catalog, {"duration": "60", "hour": 13})) == Decimal("0.2000")


PREFIXES = """
    type: prefix
    property: destination
    prefixes:
      "44": {type: rate, amount: 0.20, unit: minutes}
      "447": {type: rate, amount: 0.30, unit: minutes}
      "4420": {type: rate, amount: 0.10, unit: minutes}
"""


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        pytest.param("447700900123", "0.3000", id="mobile-447-beats-44"),  # 1 min × 0.30
        pytest.param("442079460000", "0.1000", id="london-4420-beats-44"),  # 1 min × 0.10
        pytest.param("441134960000", "0.2000", id="only-44-matches"),  # 1 min × 0.20
        pytest.param("3312345678", "1.0000", id="no-prefix-takes-the-default"),  # 1 min × 1.00
    ],
)
def test_prefix_chooses_the_longest_matching_prefix(destination: str, expected: str) -> None:
    catalog = tariff(PREFIXES + "    default: {type: rate, amount: 1.00, unit: minutes}\n")

    assert amount(rate(catalog, {"duration": "60", "destination": destination})) == Decimal(expected)


def test_prefix_without_a_match_or_default_has_no_price() -> None:
    catalog = tariff(PREFIXES)

    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"duration": "60", "destination": "3312345678"})

    assert raised.value.code is Code.NO_PRICE_FOR_VALUE


HOURS = """
    type: range
    property: hour
    ranges:
      - {from: 0, to: 8, price: {type: rate, amount: 0.005, unit: seconds}}
      - {from: 8, to: 20, price: {type: rate, amount: 0.01, unit: seconds}}
"""


@pytest.mark.parametrize(
    ("hour", "expected"),
    [
        pytest.param(0, "0.3000", id="from-is-inclusive-at-zero"),  # 60 × 0.005
        pytest.param(7, "0.3000", id="inside-first-range"),  # 60 × 0.005
        pytest.param(8, "0.6000", id="to-is-exclusive-from-is-inclusive"),  # 60 × 0.01
        pytest.param(19, "0.6000", id="inside-second-range"),  # 60 × 0.01
        pytest.param(20, "0.1200", id="past-every-range-takes-the-default"),  # 60 × 0.002
    ],
)
def test_range_chooses_the_range_the_value_falls_in(hour: int, expected: str) -> None:
    catalog = tariff(HOURS + "    default: {type: rate, amount: 0.002, unit: seconds}\n")

    assert amount(rate(catalog, {"duration": "60", "hour": hour})) == Decimal(expected)


def test_range_without_a_match_or_default_has_no_price() -> None:
    catalog = tariff(HOURS)

    with pytest.raises(InvalidConfigurationError) as raised:
        rate(catalog, {"duration": "60", "hour": 22})

    assert raised.value.code is Code.NO_PRICE_FOR_VALUE


def test_range_bounds_may_be_open() -> None:
    catalog = tariff("""
        type: range
        property: hour
        ranges:
          - {to: 8, price: {type: flat, amount: 0.10}}
          - {from: 8, price: {type: flat, amount: 0.20}}
    """)

    assert amount(rate(catalog, {"duration": "60", "hour": 7})) == Decimal("0.1000")
    assert amount(rate(catalog, {"duration": "60", "hour": 23})) == Decimal("0.2000")


# ---- allowance ------------------------------------------------------------------------------

FREE_MINUTES = "[{name: free_minutes, unit: minutes, initial: 10}]"
ALLOWANCE_THEN_PER_MINUTE = """
    type: allowance
    counter: free_minutes
    then:
      type: connect_fee
      amount: 0.10
      then: {type: rate, amount: 0.60, unit: minutes, increment: 1}
"""


def test_allowance_covers_the_whole_call_and_the_rest_is_not_priced() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    # 90 s = 1.5 min taken from 10 free minutes; nothing is left to price, so no connect fee.
    outcome = rate(catalog, {"duration": "90"})

    assert amount(outcome) == Decimal("0.0000")
    assert counters_after(outcome) == {"free_minutes": Decimal("8.5")}
    assert outcome.notifications == ()


def test_allowance_covers_part_of_call_then_rate_applies() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    # 1 free minute covers 60 of 90 s; the other 30 s: 0.10 + (30 s → 1 min) × 0.60 = 0.70
    outcome = rate(catalog, {"duration": "90"}, counters={"free_minutes": 1})

    assert amount(outcome) == Decimal("0.7000")
    assert counters_after(outcome) == {"free_minutes": Decimal(0)}
    assert [notification.kind for notification in outcome.notifications] == [NotificationKind.ALLOWANCE_EXHAUSTED]


def test_empty_allowance_leaves_the_call_to_the_rate_and_the_counter_unchanged() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    # 0.10 + (90 s → 2 min) × 0.60 = 1.30
    outcome = rate(catalog, {"duration": "90"}, counters={"free_minutes": 0})

    assert amount(outcome) == Decimal("1.3000")
    assert outcome.counter_changes == ()


def test_allowance_counter_changes_carry_before_and_after() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    outcome = rate(catalog, {"duration": "30"}, counters={"free_minutes": 2})

    (change,) = outcome.counter_changes
    assert (change.before, change.after, change.delta) == (Decimal(2), Decimal("1.5"), Decimal("-0.5"))


def test_allowance_with_units_left_covers_a_zero_quantity_item() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    # Nothing is left to price, so neither the connect fee nor a minimum is billed.
    outcome = rate(catalog, {"duration": "0"}, counters={"free_minutes": 1})

    assert amount(outcome) == Decimal("0.0000")
    assert outcome.counter_changes == ()


def test_empty_allowance_leaves_a_zero_quantity_item_to_the_child() -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters=FREE_MINUTES)

    # No free units: the child prices 0 s, 0.10 + 0 min × 0.60 = 0.10
    assert amount(rate(catalog, {"duration": "0"}, counters={"free_minutes": 0})) == Decimal("0.1000")


@pytest.mark.parametrize(
    "durations",
    [
        pytest.param(["52", "8"], id="52-then-8-seconds"),
        pytest.param(["55", "5"], id="55-then-5-seconds"),
        pytest.param(["10"] * 6, id="six-10-second-calls"),
        pytest.param(["1"] * 60, id="sixty-1-second-calls"),
    ],
)
def test_free_minutes_used_up_by_calls_in_seconds_leave_nothing_to_pay(durations: list[str]) -> None:
    catalog = tariff(ALLOWANCE_THEN_PER_MINUTE, counters="[{name: free_minutes, unit: minutes, initial: 1}]")
    stored: dict[str, Decimal] = {}

    # The calls add up to exactly the one free minute: each is free and the minute is gone.
    for duration in durations:
        outcome = rate(catalog, {"duration": duration}, counters=stored)
        assert amount(outcome) == Decimal("0.0000")
        stored.update(counters_after(outcome))

    assert stored == {"free_minutes": Decimal(0)}


def test_free_megabytes_cover_bytes() -> None:
    catalog = tariff(
        """
        type: allowance
        counter: free_megabytes
        then: {type: rate, amount: 0.01, unit: kilobytes}
        """,
        item_class="data",
        counters="[{name: free_megabytes, unit: megabytes, initial: 1}]",
    )

    # 1 MB = 1 000 000 bytes free; 1 250 000 − 1 000 000 = 250 000 bytes = 250 kB × 0.01 = 2.50
    outcome = rate(catalog, {"volume": 1250000}, item_class="data")

    assert amount(outcome) == Decimal("2.5000")
    assert counters_after(outcome) == {"free_megabytes": Decimal(0)}


def test_allowance_used_by_one_plan_is_gone_for_the_next() -> None:
    # One contract counter serves two plans; the first plan's charge takes all of it.
    catalog = load_catalog(
        ITEM_CLASSES_YAML
        + textwrap.dedent("""
            charge_plans:
              - name: bundle
                currency: EUR
                counters: [{name: shared_minutes, scope: contract, unit: minutes, initial: 1}]
                charges:
                  - name: bundle_calls
                    item_class: call
                    price: {type: allowance, counter: shared_minutes, then: {type: rate, amount: 0.60, unit: minutes}}
              - name: standard
                currency: EUR
                counters: [{name: shared_minutes, scope: contract, unit: minutes, initial: 1}]
                charges:
                  - name: standard_calls
                    item_class: call
                    price: {type: allowance, counter: shared_minutes, then: {type: rate, amount: 0.60, unit: minutes}}
        """)
    )

    # bundle: 60 s free. standard: nothing left, 1 min × 0.60 = 0.60.
    outcome = rate(catalog, {"duration": "60"}, plans=("bundle", "standard"))

    assert [charged.amount for charged in outcome.charged_items] == [Decimal("0.00"), Decimal("0.60")]
    assert counters_after(outcome) == {"shared_minutes": Decimal(0)}


# ---- no_access --------------------------------------------------------------------------


def test_no_access_refuses_the_item_with_a_notification() -> None:
    catalog = tariff("""
        type: no_access
        message: roaming is barred
    """)

    with pytest.raises(IllegalStateError) as raised:
        rate(catalog, {"duration": "60"})

    error = raised.value
    assert (error.code, error.reason, error.message) == (Code.SERVICE_NOT_ACCESSIBLE, Reason.NOT_AUTHORIZED, "roaming is barred")
    assert [(notification.kind, notification.message) for notification in error.notifications] == [
        (NotificationKind.NO_ACCESS, "roaming is barred")
    ]


def test_no_access_in_one_case_leaves_the_other_cases_priced() -> None:
    catalog = tariff("""
        type: switch
        property: network
        cases:
          home: {type: rate, amount: 0.01, unit: seconds}
          roaming: {type: no_access, message: roaming is barred}
    """)

    assert amount(rate(catalog, {"duration": "60", "network": "home"})) == Decimal("0.6000")
    with pytest.raises(IllegalStateError):
        rate(catalog, {"duration": "60", "network": "roaming"})

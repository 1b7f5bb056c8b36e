"""The ``schedule`` node: windows of local time in a time zone, holidays, and durations split at edges."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rating_support import ITEM_CLASSES_YAML, amount, load_catalog, rate, tariff

from kopek.domain.catalog import Catalog
from kopek.errors import Code, InvalidConfigurationError, InvalidError, KopekError

PARIS = ZoneInfo("Europe/Paris")

# Peak 0.60/min on working days 08:00-20:00, 0.30/min at any other time, 0.12/min on holidays.
PEAK_CATALOG = (
    ITEM_CLASSES_YAML
    + """\
calendars:
  - name: fr
    dates: ["2024-12-25", "2025-01-01"]
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: main
        item_class: call
        rounding: {decimals: 4}
        price:
          type: schedule
          time_zone: Europe/Paris
          calendar: fr
          windows:
            - {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00", price: {type: rate, amount: 0.60, unit: minutes}}
            - {price: {type: rate, amount: 0.30, unit: minutes, increment: 1}}
            - {days: [holiday], price: {type: rate, amount: 0.12, unit: minutes}}
      - name: texts
        item_class: sms
        price:
          type: schedule
          time_zone: Europe/Paris
          windows:
            - {days: [sat, sun], price: {type: flat, amount: 0.05}}
            - {from: "00:00", to: "24:00", price: {type: flat, amount: 0.10}}
"""
)

# Night 0.06/min from 00:00 to 06:00 local time, day 0.60/min after.
NIGHT = """\
type: schedule
time_zone: Europe/Paris
windows:
  - {from: "00:00", to: "06:00", price: {type: rate, amount: 0.06, unit: minutes}}
  - {from: "06:00", price: {type: rate, amount: 0.60, unit: minutes}}
"""


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)  # type: ignore[misc]


def peak() -> Catalog:
    return load_catalog(PEAK_CATALOG)


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        pytest.param(paris(2024, 3, 5, 10, 0), 120, "1.20", id="inside_peak"),
        pytest.param(paris(2024, 3, 5, 19, 55), 600, "4.50", id="peak_to_off_peak_300s_each"),
        pytest.param(paris(2024, 3, 5, 7, 58), 240, "1.80", id="off_peak_to_peak_120s_each"),
        pytest.param(paris(2024, 3, 9, 10, 0), 120, "0.60", id="saturday_is_off_peak"),
        pytest.param(paris(2024, 12, 24, 23, 50), 1200, "4.20", id="midnight_into_holiday"),
        pytest.param(paris(2024, 12, 25, 10, 0), 600, "1.20", id="holiday_beats_peak_on_a_wednesday"),
    ],
)
def test_duration_is_priced_by_the_window_of_each_part(start: datetime, seconds: int, expected: str) -> None:
    assert amount(rate(peak(), {"duration": seconds}, consumed_at=start)) == Decimal(expected)


def test_parts_under_the_same_window_are_merged_at_midnight() -> None:
    # 23:59:45 Tuesday to 00:00:15 Wednesday is one off-peak part of 30 s: one minute
    # with the increment, not one minute on each side of midnight.
    outcome = rate(peak(), {"duration": 30}, consumed_at=paris(2024, 3, 5, 23, 59, 45))

    assert amount(outcome) == Decimal("0.30")


def test_more_specific_window_wins_whatever_the_order() -> None:
    catalog = tariff("""\
        type: schedule
        time_zone: Europe/Paris
        windows:
          - {price: {type: flat, amount: 1}}
          - {from: "09:00", to: "10:00", price: {type: flat, amount: 2}}
          - {from: "09:00", to: "10:00", days: [tue], price: {type: flat, amount: 3}}
    """)

    assert amount(rate(catalog, {"duration": 0}, consumed_at=paris(2024, 3, 5, 9, 30))) == Decimal(3)
    assert amount(rate(catalog, {"duration": 0}, consumed_at=paris(2024, 3, 6, 9, 30))) == Decimal(2)
    assert amount(rate(catalog, {"duration": 0}, consumed_at=paris(2024, 3, 6, 10, 0))) == Decimal(1)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(paris(2024, 3, 9, 23, 59), "0.05", id="saturday"),
        pytest.param(paris(2024, 3, 11, 0, 0), "0.10", id="monday_midnight"),
    ],
)
def test_other_quantities_are_priced_by_the_window_of_the_consumption_date(start: datetime, expected: str) -> None:
    assert amount(rate(peak(), {"count": 1}, item_class="sms", consumed_at=start)) == Decimal(expected)


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        # 01:00 CET is 00:00 UTC; 06:00 CEST is 04:00 UTC: 4 h of night, then 1 h of day.
        pytest.param(paris(2024, 3, 31, 1, 0), 5 * 3600, "50.40", id="spring_forward_night_is_4_hours"),
        # 01:00 CEST is 23:00 UTC; 06:00 CET is 05:00 UTC: 6 h of night.
        pytest.param(paris(2024, 10, 27, 1, 0), 5 * 3600, "18.00", id="autumn_back_5_hours_all_night"),
        pytest.param(paris(2024, 10, 27, 1, 0), 6 * 3600 + 1800, "39.60", id="autumn_back_6_hours_night_then_30_min_day"),
    ],
)
def test_duration_over_a_dst_change_counts_real_seconds(start: datetime, seconds: int, expected: str) -> None:
    assert amount(rate(tariff(NIGHT), {"duration": seconds}, consumed_at=start)) == Decimal(expected)


EDGE_IN_DST_CHANGE = """\
type: schedule
time_zone: Europe/Paris
windows:
  - {to: "02:30", price: {type: rate, amount: 1, unit: minutes}}
  - {from: "02:30", price: {type: rate, amount: 2, unit: minutes}}
"""


def test_edge_inside_the_spring_gap_starts_at_the_change() -> None:
    # 01:00 CET for 2 h: 60 min before the clocks jump (wall 02:30 never happens), then
    # 60 min from 03:00 CEST on: 60 × 1 + 60 × 2.
    outcome = rate(tariff(EDGE_IN_DST_CHANGE), {"duration": 7200}, consumed_at=paris(2024, 3, 31, 1, 0))

    assert amount(outcome) == Decimal(180)


def test_edge_repeated_in_the_autumn_fold_applies_twice() -> None:
    # 02:00 CEST (00:00 UTC) for 2 h: 30 min to 02:30 CEST, 30 min to 03:00 CEST = 02:00 CET,
    # 30 min again before 02:30 CET, then 30 min after: 30 × 1 + 30 × 2 + 30 × 1 + 30 × 2.
    start = datetime(2024, 10, 27, 2, 0, tzinfo=PARIS)

    outcome = rate(tariff(EDGE_IN_DST_CHANGE), {"duration": 7200}, consumed_at=start)

    assert amount(outcome) == Decimal(180)


def test_fractional_seconds_split_exactly() -> None:
    start = paris(2024, 3, 5, 19, 59, 59, 500000)

    outcome = rate(tariff(NIGHT.replace("06:00", "20:00")), {"duration": "1.25"}, consumed_at=start)

    # 0.5 s at 0.06/min, 0.75 s at 0.60/min.
    assert amount(outcome) == Decimal("0.0080")


def test_no_window_and_no_default_is_no_price_for_value() -> None:
    catalog = tariff('{type: schedule, time_zone: UTC, windows: [{from: "08:00", price: {type: flat, amount: 1}}]}')

    with pytest.raises(InvalidConfigurationError) as caught:
        rate(catalog, {"duration": 60}, consumed_at=paris(2024, 3, 5, 3, 0))

    assert caught.value.code is Code.NO_PRICE_FOR_VALUE


def test_default_prices_outside_every_window() -> None:
    catalog = tariff("""\
        type: schedule
        time_zone: UTC
        windows: [{from: "08:00", price: {type: rate, amount: 1, unit: minutes}}]
        default: {type: rate, amount: 2, unit: minutes}
    """)

    # 07:59 UTC for 120 s: 60 s by the default, then 60 s in the window.
    assert amount(rate(catalog, {"duration": 120}, consumed_at=datetime.fromisoformat("2024-03-05T07:59:00+00:00"))) == Decimal(3)


def test_a_very_long_usage_is_refused_past_the_edge_limit() -> None:
    catalog = tariff("{type: schedule, time_zone: UTC, windows: [{price: {type: rate, amount: 1, unit: hours}}]}")

    with pytest.raises(InvalidError) as caught:
        rate(catalog, {"duration": 400 * 365 * 86400}, consumed_at=paris(2024, 3, 5, 3, 0))

    assert caught.value.code is Code.LIMIT_EXCEEDED


@pytest.mark.parametrize(
    ("node", "fault"),
    [
        pytest.param(
            "{type: schedule, time_zone: Mars/Olympus, windows: [{price: {type: flat, amount: 1}}]}", "unknown time zone", id="zone"
        ),
        pytest.param(
            "{type: schedule, time_zone: UTC, calendar: nope, windows: [{price: {type: flat, amount: 1}}]}",
            "unknown calendar",
            id="calendar",
        ),
        pytest.param(
            '{type: schedule, time_zone: UTC, windows: [{from: "22:00", to: "06:00", price: {type: flat, amount: 1}}]}',
            "'from' must be before its 'to'",
            id="overnight_window",
        ),
        pytest.param(
            '{type: schedule, time_zone: UTC, windows: [{from: "25:00", price: {type: flat, amount: 1}}]}', "String should match", id="time"
        ),
        pytest.param(
            "{type: schedule, time_zone: UTC, windows: [{days: [someday], price: {type: flat, amount: 1}}]}", "Input should be", id="day"
        ),
    ],
)
def test_schedule_faults_are_found_on_load(node: str, fault: str) -> None:
    with pytest.raises(KopekError) as caught:
        tariff(node)

    assert caught.value.code is Code.CATALOG_INVALID
    assert any(fault in detail.message for detail in caught.value.details)


def test_duplicate_calendars_are_refused() -> None:
    text = ITEM_CLASSES_YAML + 'calendars: [{name: fr, dates: ["2024-12-25"]}, {name: fr}]\ncharge_plans: []\n'

    with pytest.raises(KopekError) as caught:
        load_catalog(text)

    assert any("'fr' is defined more than once" in detail.message for detail in caught.value.details)

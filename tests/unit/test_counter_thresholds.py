"""Counter thresholds: an item that moves a counter across a threshold raises ``threshold_crossed`` once."""

from __future__ import annotations

import pytest
from rating_support import rate, tariff

from kopek.errors import Code, KopekError
from kopek.rating.outcome import NotificationKind

USED = "[{name: used, unit: minutes, thresholds: [{value: 50}, {value: 100, direction: up}]}]"
LEFT = "[{name: left, unit: minutes, initial: 100, thresholds: [{value: 10, direction: down}, {value: 0, direction: down}]}]"


def crossed(price: str, counters: str, stored: dict[str, str], seconds: int, *, update: str = "") -> list[dict[str, str]]:
    outcome = rate(tariff(price, counters=counters, charge=update), {"duration": seconds}, counters=stored)
    return [notification.data for notification in outcome.notifications if notification.kind is NotificationKind.THRESHOLD_CROSSED]


RATED_AND_COUNTED = ("{type: rate, amount: 0.01, unit: seconds}", "counter_updates: [{counter: used}]")


@pytest.mark.parametrize(
    ("stored", "seconds", "expected"),
    [
        pytest.param("40", 300, [], id="below"),
        pytest.param("40", 600, ["50"], id="reaches_exactly"),
        pytest.param("49", 3600, ["50", "100"], id="two_at_once"),
        pytest.param("50", 60, [], id="already_at_the_threshold_is_not_told_again"),
        pytest.param("120", 60, [], id="above_all"),
    ],
)
def test_up_thresholds(stored: str, seconds: int, expected: list[str]) -> None:
    price, update = RATED_AND_COUNTED

    found = crossed(price, USED, {"used": stored}, seconds, update=update)

    assert [data["value"] for data in found] == expected
    assert all(data == {"counter": "used", "value": data["value"], "direction": "up"} for data in found)


@pytest.mark.parametrize(
    ("stored", "seconds", "expected"),
    [
        pytest.param("20", 300, [], id="above"),
        pytest.param("20", 600, ["10"], id="reaches_exactly"),
        pytest.param("12", 900, ["10", "0"], id="used_up"),
        pytest.param("10", 60, [], id="already_at_the_threshold"),
    ],
)
def test_down_thresholds_on_an_allowance(stored: str, seconds: int, expected: list[str]) -> None:
    price = "{type: allowance, counter: left, then: {type: rate, amount: 0.01, unit: seconds}}"

    assert [data["value"] for data in crossed(price, LEFT, {"left": stored}, seconds)] == expected


def test_too_many_thresholds_are_refused() -> None:
    thresholds = ", ".join(f"{{value: {value}}}" for value in range(65))

    with pytest.raises(KopekError) as caught:
        tariff("{type: flat, amount: 1}", counters=f"[{{name: used, unit: minutes, thresholds: [{thresholds}]}}]")

    assert caught.value.code is Code.CATALOG_INVALID


def test_an_unknown_direction_is_refused() -> None:
    with pytest.raises(KopekError) as caught:
        tariff("{type: flat, amount: 1}", counters="[{name: used, unit: minutes, thresholds: [{value: 1, direction: sideways}]}]")

    assert caught.value.code is Code.CATALOG_INVALID

"""Holds of several live grants on one counter, as a grant of another contract is priced on top of them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kopek.domain.catalog import CounterScope
from kopek.rating.grant import added_holds
from kopek.rating.outcome import CounterKey
from kopek.rating.rate import CounterHold

POOL = CounterKey("", "", "pool", CounterScope.SHARED, "family")
BUNDLE = CounterKey("parent-line", "", "bundle", CounterScope.CONTRACT)
MARCH, APRIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


def test_holds_in_one_period_add_up_per_counter() -> None:
    holds = [(POOL, Decimal(-400), None), (BUNDLE, Decimal("-0.5"), MARCH), (POOL, Decimal(-200), None), (BUNDLE, Decimal(-1), MARCH)]
    assert added_holds(holds) == {POOL: CounterHold(Decimal(-600)), BUNDLE: CounterHold(Decimal("-1.5"), MARCH)}


def test_a_hold_of_an_earlier_period_gives_way_to_the_newest_whatever_the_order() -> None:
    newest = {BUNDLE: CounterHold(Decimal(-50), APRIL)}
    assert added_holds([(BUNDLE, Decimal(-250), MARCH), (BUNDLE, Decimal(-50), APRIL)]) == newest
    assert added_holds([(BUNDLE, Decimal(-50), APRIL), (BUNDLE, Decimal(-250), MARCH)]) == newest


def test_no_holds_hold_nothing() -> None:
    assert added_holds([]) == {}

"""Holds of live grants: several added up per counter, and items priced on top of them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rating_support import amount, contract, counter_key, tariff, typed

from kopek.domain.catalog import CounterScope
from kopek.rating.grant import added_holds
from kopek.rating.outcome import CounterKey, NotificationKind, RatingOutcome
from kopek.rating.rate import CounterHold, RatingState, rate_item

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


USED = "[{name: used, unit: seconds, thresholds: [{value: 100}]}]"
FREE = "[{name: free, unit: seconds, initial: 600}]"


def rated_beside(price: str, counters: str, *, hold: str, seconds: int, stored: str | None = None, update: str = "") -> RatingOutcome:
    """Rate a call of ``seconds`` while live grants hold ``hold`` of the plan's one counter (``stored`` its stored value)."""
    catalog = tariff(price, counters=counters, charge=update)
    name = catalog.charge_plans[0].counters[0].name
    key = counter_key(name)
    state = RatingState(contract("plan"), {key: Decimal(stored)} if stored is not None else {}, held={key: CounterHold(Decimal(hold))})
    return rate_item(catalog, state, typed(catalog, "call", {"duration": seconds}))


def test_an_item_is_priced_on_what_the_grants_leave_of_an_allowance() -> None:
    outcome = rated_beside(
        "{type: allowance, counter: free, then: {type: rate, amount: 0.01, unit: seconds}}", FREE, hold="-540", seconds=100
    )

    assert amount(outcome) == Decimal("0.4000")  # 60 free seconds are left of the 600: 40 s at 0.01
    (change,) = outcome.counter_changes
    assert (change.before, change.after) == (Decimal(600), Decimal(540))  # the stored value, without the hold


def test_thresholds_are_crossed_by_the_stored_value_not_by_the_holds_on_top() -> None:
    # A grant holds 80 s of the used counter: 30 s more take the stored value from 0 to 30, not past 100.
    counted = ("{type: rate, amount: 0.01, unit: seconds}", USED)
    outcome = rated_beside(*counted, hold="80", seconds=30, update="counter_updates: [{counter: used}]")
    assert [note.kind for note in outcome.notifications] == []
    assert [(change.before, change.after) for change in outcome.counter_changes] == [(Decimal(0), Decimal(30))]

    settled = rated_beside(*counted, hold="0", stored="30", seconds=80, update="counter_updates: [{counter: used}]")
    assert [note.kind for note in settled.notifications] == [NotificationKind.THRESHOLD_CROSSED]

"""Counters complete: scopes (contract, contract item, activation, shared, transient), lazy
periodic resets at the next item's consumption date, expiry of bonus units, and a linked
contract using its parent's counters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rating_support import CONTRACT_ID, ITEM_CLASSES_YAML, contract, load_catalog, tariff, typed

from kopek.domain.catalog import CounterScope
from kopek.domain.master import ContractId, ContractItem, ContractItemId
from kopek.errors import KopekError
from kopek.rating.compiled import BoundCounter
from kopek.rating.outcome import CounterKey, RatingOutcome
from kopek.rating.rate import CounterLife, RatingState, rate_item

ALLOWANCE = "{type: allowance, counter: free, then: {type: rate, amount: '0.01', unit: seconds}}"


def _free(extra: str = "", *, scope: str = "contract_item", initial: int = 60) -> str:
    return f"[{{name: free, scope: {scope}, unit: seconds, initial: {initial}{', ' + extra if extra else ''}}}]"


def _rate(
    counters: str,
    stored: dict[CounterKey, Decimal],
    *,
    at: datetime,
    lives: dict[CounterKey, CounterLife] | None = None,
    seconds: int = 100,
) -> RatingOutcome:
    catalog = tariff(ALLOWANCE, counters=counters)
    state = RatingState(contract("plan"), stored, lives or {})
    return rate_item(catalog, state, typed(catalog, "call", {"duration": seconds}, consumed_at=at))


ITEM_KEY = CounterKey(CONTRACT_ID, "contract-item-1", "free")
MARCH_1 = datetime(2024, 3, 1, tzinfo=UTC)


def test_monthly_reset_gives_the_allowance_back_at_the_first_item_of_the_new_month() -> None:
    stored = {ITEM_KEY: Decimal(0)}
    lives = {ITEM_KEY: CounterLife(period_start=datetime(2024, 2, 1, tzinfo=UTC))}

    outcome = _rate(_free("reset: monthly"), stored, lives=lives, at=datetime(2024, 3, 2, 9, tzinfo=UTC))

    (charged,) = outcome.charged_items
    assert charged.amount == Decimal("0.40")  # 60 s free again, 40 s at 0.01
    (change,) = outcome.counter_changes
    assert (change.before, change.after, change.period_start) == (Decimal(60), Decimal(0), MARCH_1)


def test_no_reset_within_the_same_period() -> None:
    stored = {ITEM_KEY: Decimal(0)}
    lives = {ITEM_KEY: CounterLife(period_start=MARCH_1)}

    outcome = _rate(_free("reset: monthly"), stored, lives=lives, at=datetime(2024, 3, 31, 23, 59, tzinfo=UTC))

    assert outcome.charged_items[0].amount == Decimal("1.00")
    assert outcome.counter_changes == ()


@pytest.mark.parametrize(
    ("extra", "at", "period_start"),
    [
        pytest.param(
            "reset: daily, time_zone: Europe/Paris",
            datetime(2024, 3, 1, 23, 30, tzinfo=UTC),
            datetime(2024, 3, 1, 23, tzinfo=UTC),
            id="daily_paris",
        ),
        pytest.param(
            "reset: weekly, anchor_day: 5", datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), id="weekly_friday"
        ),
        pytest.param(
            "reset: monthly, anchor_day: 15", datetime(2024, 3, 14, 23, tzinfo=UTC), datetime(2024, 2, 15, tzinfo=UTC), id="monthly_15th"
        ),
        pytest.param(
            "reset: monthly, anchor_day: 31",
            datetime(2024, 2, 29, 8, tzinfo=UTC),
            datetime(2024, 2, 29, tzinfo=UTC),
            id="monthly_31st_in_february",
        ),
    ],
)
def test_a_new_value_is_stamped_with_the_start_of_its_period(extra: str, at: datetime, period_start: datetime) -> None:
    outcome = _rate(_free(extra), {}, at=at)

    (change,) = outcome.counter_changes
    assert change.period_start == period_start


def test_a_late_item_of_an_earlier_period_counts_in_the_stored_period() -> None:
    stored = {ITEM_KEY: Decimal(10)}
    lives = {ITEM_KEY: CounterLife(period_start=MARCH_1)}

    outcome = _rate(_free("reset: monthly"), stored, lives=lives, at=datetime(2024, 2, 28, tzinfo=UTC))

    (change,) = outcome.counter_changes
    assert (change.before, change.after, change.period_start) == (Decimal(10), Decimal(0), MARCH_1)


def test_a_counter_off_the_items_path_is_neither_read_nor_reset() -> None:
    catalog = tariff("{type: flat, amount: '0.10'}", counters=_free("reset: daily"))
    stored = {ITEM_KEY: Decimal(5)}
    state = RatingState(contract("plan"), stored, {ITEM_KEY: CounterLife(period_start=datetime(2024, 2, 1, tzinfo=UTC))})

    outcome = rate_item(catalog, state, typed(catalog, "call", {"duration": 1}, consumed_at=MARCH_1))

    # Resets are lazy: the next item that reads the counter finds its period over and starts afresh.
    assert outcome.counter_changes == ()


def test_a_reset_with_no_move_of_the_counter_is_still_stored() -> None:
    catalog = tariff(
        "{type: tiers, counter: free, bands: [{up_to: 10, price: {type: flat, amount: '0.10'}}, {price: {type: flat, amount: '0.20'}}]}",
        counters=_free("reset: daily"),
    )
    stored = {ITEM_KEY: Decimal(5)}
    state = RatingState(contract("plan"), stored, {ITEM_KEY: CounterLife(period_start=datetime(2024, 2, 1, tzinfo=UTC))})

    outcome = rate_item(catalog, state, typed(catalog, "call", {"duration": 1}, consumed_at=MARCH_1))

    (change,) = outcome.counter_changes
    assert (change.after, change.period_start) == (Decimal(60), MARCH_1)


def test_bonus_units_lapse_at_their_expiry() -> None:
    stored = {ITEM_KEY: Decimal(500)}
    lives = {ITEM_KEY: CounterLife(expires_at=datetime(2024, 3, 10, tzinfo=UTC))}

    before_expiry = _rate(_free(initial=0), stored, lives=lives, at=datetime(2024, 3, 9, 23, tzinfo=UTC))
    at_expiry = _rate(_free(initial=0), stored, lives=lives, at=datetime(2024, 3, 10, tzinfo=UTC))

    assert before_expiry.charged_items[0].amount == Decimal(0)
    assert before_expiry.counter_changes[0].expires_at == datetime(2024, 3, 10, tzinfo=UTC)
    assert at_expiry.charged_items[0].amount == Decimal("1.00")
    (lapse,) = at_expiry.counter_changes  # the lapse is stored: back to the initial 0, no expiry
    assert (lapse.after, lapse.expires_at) == (Decimal(0), None)


def test_contract_item_and_activation_scopes_key_the_counter_by_the_contract_item() -> None:
    activation = _rate(_free(scope="activation"), {}, at=MARCH_1)
    item = _rate(_free(), {}, at=MARCH_1)

    assert activation.counter_changes[0].key == CounterKey(CONTRACT_ID, "contract-item-1", "free", CounterScope.ACTIVATION)
    assert item.counter_changes[0].key == ITEM_KEY


def test_a_transient_counter_starts_from_its_initial_value_at_every_call() -> None:
    stored = {CounterKey(CONTRACT_ID, "contract-item-1", "free", CounterScope.TRANSIENT): Decimal(0)}

    outcome = _rate(_free(scope="transient"), stored, at=MARCH_1)

    assert outcome.charged_items[0].amount == Decimal("0.40")
    assert outcome.counter_changes[0].key.scope is CounterScope.TRANSIENT
    state = RatingState(contract("plan"), {}).after(outcome.counter_changes)
    assert state.counters == {}  # never stored


def test_shared_counter_is_keyed_by_its_namespace_not_by_the_contract() -> None:
    shared = CounterKey("", "", "free", CounterScope.SHARED, "family-7")

    outcome = _rate(_free("namespace: family-7", scope="shared"), {shared: Decimal(30)}, at=MARCH_1)

    assert outcome.charged_items[0].amount == Decimal("0.70")
    (change,) = outcome.counter_changes
    assert (change.key, change.after) == (shared, Decimal(0))


@pytest.mark.parametrize(
    "counters",
    [
        pytest.param(_free(scope="shared"), id="shared_without_namespace"),
        pytest.param(_free("namespace: n1"), id="namespace_without_shared"),
        pytest.param(_free("anchor_day: 3"), id="anchor_day_without_reset"),
        pytest.param(_free("reset: weekly, anchor_day: 8"), id="weekly_anchor_past_sunday"),
        pytest.param(_free("reset: daily", scope="transient"), id="transient_with_reset"),
        pytest.param(_free("reset: daily, time_zone: Mars/Olympus"), id="unknown_time_zone"),
        # Contract states carry the counters of scope contract in namespace contract: a pool may not take that name.
        pytest.param(_free("namespace: contract", scope="shared"), id="shared_in_the_reserved_namespace"),
    ],
)
def test_inconsistent_counter_declarations_are_refused_on_load(counters: str) -> None:
    with pytest.raises(KopekError):
        tariff(ALLOWANCE, counters=counters)


def test_linked_contract_uses_its_parents_contract_counter() -> None:
    catalog = tariff(ALLOWANCE, counters=_free(scope="contract"))
    parent = replace(contract("plan"), id=ContractId("family"))
    child = replace(contract("plan"), parent_id=parent.id, items=(ContractItem(ContractItemId("child-item"), "plan"),))
    parent_key = CounterKey("family", "", "free")

    outcome = rate_item(catalog, RatingState(child, {parent_key: Decimal(20)}, parent=parent), typed(catalog, "call", {"duration": 100}))

    assert outcome.charged_items[0].amount == Decimal("0.80")
    (change,) = outcome.counter_changes
    assert (change.key, change.after) == (parent_key, Decimal(0))


def test_linked_contract_keeps_its_own_counter_when_the_parent_does_not_declare_it() -> None:
    catalog = tariff(ALLOWANCE, counters=_free(scope="contract"))
    parent = replace(contract(), id=ContractId("family"))
    child = replace(contract("plan"), parent_id=parent.id)

    outcome = rate_item(catalog, RatingState(child, {}, parent=parent), typed(catalog, "call", {"duration": 100}))

    assert outcome.counter_changes[0].key == CounterKey(CONTRACT_ID, "", "free")


def _with_fee(counters: str, fee: str) -> str:
    return f"""
{ITEM_CLASSES_YAML}
charge_plans:
  - name: plan
    currency: EUR
    counters: {counters}
    fees: [{fee}]
    charges:
      - {{name: main, item_class: call, rounding: {{decimals: 4}}, price: {ALLOWANCE}}}
"""


def test_a_per_activation_reset_follows_the_periods_of_the_plans_recurring_fee() -> None:
    catalog = load_catalog(
        _with_fee(_free("reset: per_activation", scope="activation"), "{name: rent, period: monthly, anchor_day: 15, amount: 5}")
    )
    key = CounterKey(CONTRACT_ID, "contract-item-1", "free", CounterScope.ACTIVATION)
    lives = {key: CounterLife(period_start=datetime(2024, 2, 15, tzinfo=UTC))}

    def on(day: int) -> RatingOutcome:
        state = RatingState(contract("plan"), {key: Decimal(0)}, lives)
        return rate_item(catalog, state, typed(catalog, "call", {"duration": 100}, consumed_at=datetime(2024, 3, day, tzinfo=UTC)))

    assert on(14).charged_items[0].amount == Decimal("1.00")  # still February's fee period: the allowance is used up
    assert on(15).charged_items[0].amount == Decimal("0.40")  # a new fee period: 60 s free again
    assert on(15).counter_changes[0].period_start == datetime(2024, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("counters", "fee"),
    [
        pytest.param(_free("reset: per_activation"), "{name: setup, kind: one_off, amount: 5}", id="no_recurring_fee"),
        pytest.param(_free("reset: per_activation, namespace: n", scope="shared"), "{name: rent, period: daily, amount: 1}", id="shared"),
    ],
)
def test_a_per_activation_reset_needs_a_recurring_fee_and_an_unshared_counter(counters: str, fee: str) -> None:
    with pytest.raises(KopekError) as raised:
        load_catalog(_with_fee(counters, fee))

    assert ["resets per activation" in detail.message for detail in raised.value.details] == [True]


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Santiago", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
@pytest.mark.parametrize("reset", ["daily", "weekly", "monthly"])
def test_the_period_a_compiled_counter_keeps_is_the_cycles_own_at_every_instant(zone: str, reset: str) -> None:
    # Rating keeps the current period of a counter's reset cycle between items; whatever order instants come in,
    # across summer-time changes (Santiago's at midnight, Lord Howe's by half an hour), it answers as the cycle does.
    anchor = ", anchor_day: 31" if reset == "monthly" else (", anchor_day: 7" if reset == "weekly" else "")
    catalog = tariff(ALLOWANCE, counters=_free(f"reset: {reset}, time_zone: {zone}{anchor}"))
    plan = catalog.charge_plan("plan")
    assert plan is not None
    (spec,) = plan.counters
    cycle = spec.cycle()
    assert cycle is not None
    counter = BoundCounter(ITEM_KEY, spec, cycle)
    instants = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=17 * step) for step in range(0, 366 * 24 * 60 // 17, 7)]
    shuffled = instants[::2] + instants[1::2][::-1]
    for instant in instants + shuffled:
        assert counter.period_start(instant) == cycle.start_of(instant), instant

"""The worked examples of docs/catalog.md sections 7 (Fees) and 8 (Refill plans): the YAML here is the YAML there."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rating_support import CONTRACT_ID, contract, typed
from test_catalog_doc_examples import example

from kopek.domain.catalog import Catalog, CounterScope, Fee
from kopek.domain.fees import DuePeriod, due_periods
from kopek.domain.master import Account, AccountId, AccountKind, Contract, SubscriberAccountId
from kopek.domain.refills import bonus_change, bonus_counter, credit, refill_amount
from kopek.errors import InvalidError
from kopek.rating.outcome import CounterKey
from kopek.rating.rate import CounterLife, RatingState, rate_item

STARTED = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

MONTHLY_PRORATED = """\
    charge_plans:
      - name: example
        currency: EUR
        fees:
          - name: subscription
            period: monthly
            anchor_day: 1
            amount: 30.00
            proration: daily
"""

WEEKLY_IN_PARIS = """\
    charge_plans:
      - name: example
        currency: EUR
        fees:
          - name: pack
            period: weekly
            time_zone: Europe/Paris
            amount: 2.50
"""

ONE_OFF_AND_BELOW_FLOOR = """\
    charge_plans:
      - name: example
        currency: EUR
        fees:
          - {name: setup, kind: one_off, amount: 5.00}
          - {name: pass, period: daily, amount: 0.50, on_insufficient_balance: below_floor}
"""

REFILL_WITH_BONUS = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: bonus_minutes, unit: minutes}
        charges:
          - name: calls
            item_class: call
            price:
              type: allowance
              counter: bonus_minutes
              then: {type: rate, amount: 0.60, unit: minutes, increment: 1}
    refill_plans:
      - name: topup
        currency: EUR
        min_amount: 5
        max_amount: 100
        bonus: {counter: bonus_minutes, units: 30, expires_after_days: 10}
"""


def fees_of(catalog: Catalog) -> tuple[Fee, ...]:
    plan = catalog.charge_plan("example")
    assert plan is not None
    return plan.fees


def started_contract() -> Contract:
    return Contract(CONTRACT_ID, SubscriberAccountId("subscriber-1"), STARTED)


def run(catalog: Catalog, until: datetime) -> list[DuePeriod]:
    """Every due period of the example's fees up to ``until``, oldest first (then in plan order)."""
    periods = [period for fee in fees_of(catalog) for period in due_periods(fee, started_contract(), None, until)]
    return sorted(periods, key=lambda period: period.start)


def test_monthly_fee_with_a_prorated_first_month() -> None:
    periods = run(example(MONTHLY_PRORATED), datetime(2026, 4, 1, tzinfo=UTC))

    assert [(period.start, period.amount) for period in periods] == [
        (STARTED, Decimal("16.45")),
        (datetime(2026, 2, 1, tzinfo=UTC), Decimal("30.00")),
        (datetime(2026, 3, 1, tzinfo=UTC), Decimal("30.00")),
        (datetime(2026, 4, 1, tzinfo=UTC), Decimal("30.00")),
    ]
    assert sum(period.amount for period in periods) == Decimal("106.45")
    assert (periods[0].days_used, periods[0].days_in_period) == (17, 31)


def test_weekly_fee_on_paris_thursdays() -> None:
    periods = run(example(WEEKLY_IN_PARIS), datetime(2026, 2, 1, tzinfo=UTC))

    assert [period.start for period in periods] == [STARTED, datetime(2026, 1, 21, 23, tzinfo=UTC), datetime(2026, 1, 28, 23, tzinfo=UTC)]
    assert sum(period.amount for period in periods) == Decimal("7.50")


def test_one_off_fee_and_a_daily_fee_below_the_floor() -> None:
    periods = run(example(ONE_OFF_AND_BELOW_FLOOR), datetime(2026, 1, 18, tzinfo=UTC))
    balance = Decimal("6.00")
    seen = []
    for period in periods:
        balance -= period.amount
        seen.append((period.fee.name, balance))

    assert seen == [
        ("setup", Decimal("1.00")),
        ("pass", Decimal("0.50")),
        ("pass", Decimal("0.00")),
        ("pass", Decimal("-0.50")),
        ("pass", Decimal("-1.00")),
    ]


def test_refill_with_bonus_minutes_that_lapse() -> None:
    catalog = example(REFILL_WITH_BONUS)
    plan = catalog.refill_plan("topup")
    assert plan is not None and plan.bonus is not None
    refilled_at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    prepaid = Account(AccountId("prepaid-1"), SubscriberAccountId("subscriber-1"), AccountKind.PREPAID, "EUR", Decimal("10.00"))
    the_contract = contract("example")

    after, _ = credit(plan, prepaid, refill_amount(plan, Decimal("20.00")))
    key, spec = bonus_counter(catalog, the_contract, plan.bonus, refilled_at)
    change = bonus_change(key, spec, None, plan.bonus, refilled_at)

    assert after.balance == Decimal("30.00")
    assert (key, change.after, change.expires_at) == (
        CounterKey(CONTRACT_ID, "contract-item-1", "bonus_minutes", CounterScope.CONTRACT_ITEM),
        Decimal(30),
        refilled_at + timedelta(days=10),
    )
    state = RatingState(the_contract, {key: change.after}, {key: CounterLife(None, change.expires_at)})
    call = typed(catalog, "call", {"duration": "120"}, consumed_at=datetime(2026, 6, 5, tzinfo=UTC))
    outcome = rate_item(catalog, state, call)
    assert [item.amount for item in outcome.charged_items] == [Decimal("0.00")]
    assert [change.after for change in outcome.counter_changes] == [Decimal(28)]
    lapsed = typed(catalog, "call", {"duration": "120"}, consumed_at=datetime(2026, 6, 11, 12, 0, tzinfo=UTC))
    assert [item.amount for item in rate_item(catalog, state, lapsed).charged_items] == [Decimal("1.20")]
    for refused in ("4.99", "100.01"):
        with pytest.raises(InvalidError):
            refill_amount(plan, Decimal(refused))


EXAMPLES = [MONTHLY_PRORATED, WEEKLY_IN_PARIS, ONE_OFF_AND_BELOW_FLOOR, REFILL_WITH_BONUS]


def test_every_fee_and_refill_example_is_in_the_doc_word_for_word() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text(encoding="utf-8")

    assert [textwrap.dedent(text) in doc for text in EXAMPLES] == [True] * len(EXAMPLES)

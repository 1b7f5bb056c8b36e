"""The worked counter examples of docs/catalog.md (scopes, resets), rated: the YAML here is the YAML there."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rating_support import CONTRACT_ID, contract, typed
from test_catalog_doc_examples import example

from kopek.domain.catalog import CounterScope
from kopek.domain.master import ContractId, SubscriberAccountId
from kopek.rating.outcome import CounterKey
from kopek.rating.rate import CounterLife, RatingState, rate_item

MONTHLY_RESET = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - name: free_minutes
            unit: minutes
            initial: 100
            reset: monthly
            anchor_day: 15
            time_zone: Europe/Paris
        charges:
          - name: calls
            item_class: call
            price:
              type: allowance
              counter: free_minutes
              then: {type: rate, amount: 0.01, unit: seconds}
"""


def test_monthly_reset_in_paris() -> None:
    catalog = example(MONTHLY_RESET)
    key = CounterKey(CONTRACT_ID, "contract-item-1", "free_minutes")
    state = RatingState(contract("example"), {key: Decimal(0)}, {key: CounterLife(period_start=datetime(2024, 2, 14, 23, tzinfo=UTC))})

    before_midnight = rate_item(
        catalog, state, typed(catalog, "call", {"duration": 600}, consumed_at=datetime(2024, 3, 14, 22, 30, tzinfo=UTC))
    )
    after_midnight = rate_item(
        catalog, state, typed(catalog, "call", {"duration": 600}, consumed_at=datetime(2024, 3, 14, 23, 30, tzinfo=UTC))
    )

    assert [item.amount for item in before_midnight.charged_items] == [Decimal("6.00")]
    assert [item.amount for item in after_midnight.charged_items] == [Decimal("0.00")]
    assert [change.after for change in after_midnight.counter_changes] == [Decimal(90)]


SHARED_POOL = """\
    charge_plans:
      - name: example
        currency: EUR
        counters:
          - {name: family_pool, scope: shared, namespace: family-42, unit: minutes, initial: 10}
        charges:
          - name: calls
            item_class: call
            price:
              type: allowance
              counter: family_pool
              then: {type: rate, amount: 0.01, unit: seconds}
"""


def test_shared_pool_across_two_contracts() -> None:
    catalog = example(SHARED_POOL)
    first_contract = contract("example")
    second_contract = replace(first_contract, id=ContractId("other"), subscriber_account_id=SubscriberAccountId("subscriber-2"))

    first = rate_item(catalog, RatingState(first_contract, {}), typed(catalog, "call", {"duration": 480}))
    pool = first.counter_changes[0]
    second = rate_item(catalog, RatingState(second_contract, {pool.key: pool.after}), typed(catalog, "call", {"duration": 300}))

    assert pool.key == CounterKey("", "", "family_pool", CounterScope.SHARED, "family-42")
    assert ([item.amount for item in first.charged_items], pool.after) == ([Decimal("0.00")], Decimal(2))
    assert [item.amount for item in second.charged_items] == [Decimal("1.80")]
    assert [change.after for change in second.counter_changes] == [Decimal(0)]


def test_the_counter_examples_are_in_the_doc_word_for_word() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text(encoding="utf-8")

    assert [textwrap.dedent(text) in doc for text in (MONTHLY_RESET, SHARED_POOL)] == [True, True]

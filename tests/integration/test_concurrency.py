"""Many threads charging one prepaid account at once: never below the floor, no lost update.

Each test runs on PostgreSQL (row locks, several connections really in parallel) and on a
SQLite file (writers queued by ``BEGIN IMMEDIATE``). Threads are bounded by a deadline and
a join timeout, so a deadlock fails the test instead of hanging the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from kopek import AdjustmentInput, ChargeableItem, ChargeResult, Code, Engine, KopekError
from tests.integration.support import add_subscriber, charged_rows, exact_sum, operation_count, operations_sum, run_together
from tests.worlds import AT, call, catalog_document

THREADS = 8
ATTEMPTS_PER_THREAD = 40
DEADLINE_SECONDS = 90
SMS_PRICE = Decimal("0.10")


@pytest.fixture
def engine(any_url: str) -> Iterator[Engine]:
    """An engine with the world's catalog and no subscribers yet (system clock, random ids)."""
    with Engine(any_url) as opened:
        opened.load_catalog(catalog_document())
        yield opened


def sms(user: str) -> ChargeableItem:
    return ChargeableItem("sms", AT, "mobile", user, {"destination": "33612345678"})


def attempts(charge: Callable[[], ChargeResult], count: int, deadline: float) -> list[ChargeResult | KopekError]:
    """Call ``charge`` ``count`` times (fewer if the deadline passes), keeping results and refusals."""
    outcomes: list[ChargeResult | KopekError] = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            outcomes.append(charge())
        except KopekError as error:
            outcomes.append(error)
    return outcomes


def flatten(per_thread: list[Any]) -> list[ChargeResult | KopekError]:
    for outcome in per_thread:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcomes in per_thread for outcome in outcomes]


def assert_ledger_is_a_chain(engine: Engine, account_id: str, floor: Decimal) -> None:
    """Each operation starts from the balance the previous one left: no update was lost in between."""
    operations = engine.account_operations(account_id, limit=1000)
    running = Decimal(0)
    for operation in operations:
        running += operation.amount
        assert operation.balance_after == running, f"operation {operation.id} does not follow from the one before it"
        assert operation.kind == "opening" or operation.balance_after >= floor
    assert running == engine.account(account_id).balance


@pytest.mark.parametrize("contracts", [pytest.param(1, id="one-contract"), pytest.param(THREADS, id="one-contract-per-thread")])
def test_parallel_charges_spend_exactly_what_the_balance_allows(engine: Engine, contracts: int) -> None:
    # 20.00 with a floor of 2.00 leaves 18.00: 180 SMS at 0.10 of the 8 x 40 = 320 attempted.
    users = add_subscriber(engine, "carol", contracts=contracts, initial_balance="20.00", floor="2.00")
    initial, floor = Decimal("20.00"), Decimal("2.00")
    deadline = time.monotonic() + DEADLINE_SECONDS
    tasks = [
        (lambda user=users[index % contracts]: attempts(lambda: engine.charge(sms(user)), ATTEMPTS_PER_THREAD, deadline))
        for index in range(THREADS)
    ]

    outcomes = flatten(run_together(tasks, timeout_seconds=DEADLINE_SECONDS + 30))

    assert len(outcomes) == THREADS * ATTEMPTS_PER_THREAD, "the deadline passed before every attempt was made"
    successes = [outcome for outcome in outcomes if isinstance(outcome, ChargeResult)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, KopekError)]
    assert {refusal.code for refusal in refusals} <= {Code.INSUFFICIENT_BALANCE}
    allowed = int((initial - floor) / SMS_PRICE)
    assert len(successes) == allowed
    charged = exact_sum(item.amount for result in successes for item in result.charged_items or [])
    final = engine.account("carol-prepaid").balance
    assert final == initial - charged == floor
    assert final == operations_sum(engine, "carol-prepaid")
    assert operation_count(engine) == allowed
    assert sum(len(charged_rows(engine, f"carol-contract-{index}")) for index in range(contracts)) == allowed
    assert_ledger_is_a_chain(engine, "carol-prepaid", floor)


def test_concurrent_double_spend_has_exactly_one_winner(engine: Engine) -> None:
    # 1000 MB of data costs 5.50 (100 MB at 0.01 then 900 MB at 0.005): the balance covers one.
    users = add_subscriber(engine, "carol", contracts=THREADS, initial_balance="5.50")
    item = "data_session"
    tasks = [(lambda user=user: engine.charge(ChargeableItem(item, AT, "mobile", user, {"volume": 1_000_000_000}))) for user in users]

    outcomes = run_together(tasks)

    winners = [outcome for outcome in outcomes if isinstance(outcome, ChargeResult)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, KopekError)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert {loser.code for loser in losers} == {Code.INSUFFICIENT_BALANCE}
    assert engine.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(engine, "carol-prepaid")
    assert operation_count(engine) == 1


def test_top_ups_during_parallel_charges_are_never_lost(engine: Engine) -> None:
    users = add_subscriber(engine, "carol", contracts=THREADS, initial_balance="3.00")
    initial, top_up, top_ups = Decimal("3.00"), Decimal("1.00"), 20
    deadline = time.monotonic() + DEADLINE_SECONDS

    def topping_up() -> list[object]:
        for _ in range(top_ups):
            engine.adjust_balance("carol-prepaid", AdjustmentInput(amount=top_up, reason="top-up"))
        return []

    tasks: list[Callable[[], Any]] = [
        (lambda user=user: attempts(lambda: engine.charge(sms(user)), ATTEMPTS_PER_THREAD, deadline)) for user in users
    ]
    outcomes = flatten(run_together([*tasks, topping_up], timeout_seconds=DEADLINE_SECONDS + 30))

    successes = [outcome for outcome in outcomes if isinstance(outcome, ChargeResult)]
    assert {outcome.code for outcome in outcomes if isinstance(outcome, KopekError)} <= {Code.INSUFFICIENT_BALANCE}
    final = engine.account("carol-prepaid").balance
    assert final == initial + top_ups * top_up - len(successes) * SMS_PRICE
    assert final >= 0
    assert final == operations_sum(engine, "carol-prepaid")
    assert_ledger_is_a_chain(engine, "carol-prepaid", Decimal(0))


def test_parallel_calls_of_one_contract_take_its_allowance_once(engine: Engine) -> None:
    # 60 free seconds a month: of 8 x 5 one-minute calls exactly one is free, the others cost 0.60 each. The contract's
    # row lock keeps a second charge from reading the allowance before the first one stored what it took of it.
    users = add_subscriber(engine, "carol", contracts=1, initial_balance="100.00")
    calls_per_thread = 5
    tasks = [(lambda: [engine.charge(call(users[0], seconds="60")) for _ in range(calls_per_thread)]) for _ in range(THREADS)]

    outcomes = flatten(run_together(tasks))

    amounts = [exact_sum(item.amount for item in outcome.charged_items or []) for outcome in outcomes if isinstance(outcome, ChargeResult)]
    assert len(amounts) == THREADS * calls_per_thread
    assert amounts.count(Decimal(0)) == 1
    assert exact_sum(amounts) == Decimal("0.60") * (THREADS * calls_per_thread - 1)
    assert engine.account("carol-prepaid").balance == Decimal("100.00") - exact_sum(amounts) == operations_sum(engine, "carol-prepaid")

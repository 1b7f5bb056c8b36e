"""The fee run on SQLite and PostgreSQL: due periods charged exactly once, rules on short balances, statuses."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import AccessInput, AdjustmentInput, ChargeableItem, ContractInput, Engine, SubscriberAccountInput
from kopek.charging.fees import ContractOutcome, FeeRunReport
from kopek.domain.activations import ActivationStatus
from kopek.errors import Category, Code, InvalidError
from kopek.limits import FEE_PERIODS_PER_CONTRACT_MAX
from kopek.rating.outcome import NotificationKind
from kopek.store.schema import account_operations, charged_items, charging_operations, counters, fee_applications, notifications
from tests.fakes import FixedClock, SequentialIds
from tests.fee_world import at, balance, build, catalog_document, contract, subscriber

NOW = at("2026-06-01T12:00")


def state(engine: Engine) -> dict[str, Any]:
    """Everything a fee run writes, to compare two moments."""
    with engine.database.connect() as connection:
        rows = {
            table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (charging_operations, charged_items, account_operations, notifications, fee_applications, counters)
        }
    return {"rows": rows, "balance": balance(engine), "activations": engine.activations("ann-contract")}


def amounts(engine: Engine) -> list[Decimal]:
    with engine.database.connect() as connection:
        query = sa.select(charged_items.c.amount).order_by(charged_items.c.consumption_date)
        return list(connection.execute(query).scalars())


def test_monthly_fee_prorates_the_first_month_then_charges_every_month(engine: Engine) -> None:
    build(engine, "monthly")

    report = engine.run_fees(NOW)

    # Contract from 15 January: 17 of January's 31 days, 30.00 × 17 / 31 = 16.4516... → 16.45;
    # then 1 February, 1 March, 1 April, 1 May and 1 June at 30.00 each.
    assert amounts(engine) == [Decimal("16.45")] + [Decimal("30.00")] * 5
    assert balance(engine) == Decimal("1000.00") - Decimal("16.45") - 5 * Decimal("30.00") == Decimal("833.55")
    assert report.fees_applied == 6 and report.contracts_charged == 1
    first = report.contracts[0].applied[0]
    assert first.prorated and first.period_start == at("2026-01-15T10:00") and first.amount == "16.45"
    [activation] = engine.activations("ann-contract")
    assert (activation.id, activation.kind, activation.status) == ("monthly", "charge", "active")
    assert activation.last_activation_date == at("2026-06-01T00:00")


def test_weekly_fee_is_charged_on_the_contracts_start_weekday(engine: Engine) -> None:
    build(engine, "weekly")

    report = engine.run_fees(at("2026-02-12T00:00"))

    # 15 January 2026 is a Thursday: 15, 22, 29 January, 5 and 12 February.
    assert [fee.period_start for fee in report.contracts[0].applied] == [
        at("2026-01-15T10:00"),
        at("2026-01-22"),
        at("2026-01-29"),
        at("2026-02-05"),
        at("2026-02-12"),
    ]
    assert balance(engine) == Decimal("990.00")


def test_daily_fee_is_charged_every_day_up_to_the_until_date_inclusive(engine: Engine) -> None:
    build(engine, "daily_pass")

    engine.run_fees(at("2026-01-20T00:00"))

    assert amounts(engine) == [Decimal("0.50")] * 6
    assert balance(engine) == Decimal("997.00")


def test_a_second_run_changes_nothing(engine: Engine) -> None:
    build(engine, "monthly", "weekly", "daily_pass", "setup")
    engine.run_fees(NOW)
    before = state(engine)

    again = engine.run_fees(NOW)

    assert again.fees_applied == 0 and again.contracts == []
    assert state(engine) == before


def test_a_later_run_charges_only_the_new_periods(engine: Engine) -> None:
    build(engine, "monthly")
    first = engine.run_fees(at("2026-03-01T00:00"))

    second = engine.run_fees(NOW)

    assert first.fees_applied == 3 and second.fees_applied == 3
    assert [fee.period_start for fee in second.contracts[0].applied] == [at("2026-04-01"), at("2026-05-01"), at("2026-06-01")]
    assert balance(engine) == Decimal("833.55")


def test_a_fee_the_balance_cannot_cover_suspends_the_item_until_a_later_run_can_charge_it(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly", balance="20.00")

    report = engine.run_fees(NOW)

    # 16.45 for January fits; February's 30.00 does not: the item is suspended, nothing more is charged.
    assert [fee.amount for fee in report.contracts[0].applied] == ["16.45"]
    assert report.contracts[0].suspended_items == ["monthly"] and report.suspended_items == 1
    assert balance(engine) == Decimal("3.55")
    [activation] = engine.activations("ann-contract")
    assert activation.status == ActivationStatus.SUSPENDED and activation.last_activation_date == at("2026-01-15T10:00")

    _credit(engine, "200.00")
    resumed = engine.run_fees(NOW)

    # The periods still owed are charged, oldest first: February to June, 5 × 30.00.
    assert resumed.fees_applied == 5 and resumed.contracts[0].suspended_items == []
    assert balance(engine) == Decimal("53.55")
    assert engine.activations("ann-contract")[0].status == ActivationStatus.ACTIVE


def _credit(engine: Engine, amount: str) -> None:
    engine.adjust_balance("ann-prepaid", AdjustmentInput.model_validate({"amount": amount, "reason": "top-up"}))


def test_a_below_floor_fee_takes_the_prepaid_balance_under_its_floor(engine: Engine) -> None:
    build(engine, "daily_pass", balance="1.00")

    report = engine.run_fees(at("2026-01-20T00:00"))

    assert report.fees_applied == 6 and all(fee.below_floor for fee in report.contracts[0].applied)
    assert balance(engine) == Decimal("-2.00")
    assert engine.activations("ann-contract")[0].status == ActivationStatus.ACTIVE


def test_no_period_is_charged_from_the_contracts_end_and_the_activation_expires(engine: Engine) -> None:
    build(engine, "weekly", valid_to=at("2026-02-01"))

    report = engine.run_fees(NOW)

    assert [fee.period_start for fee in report.contracts[0].applied] == [at("2026-01-15T10:00"), at("2026-01-22"), at("2026-01-29")]
    assert report.contracts[0].expired_items == ["weekly"]
    assert engine.activations("ann-contract")[0].status == ActivationStatus.EXPIRED
    assert engine.run_fees(NOW).fees_applied == 0


def test_a_one_off_fee_is_charged_once_and_its_activation_expires(engine: Engine) -> None:
    build(engine, "setup")

    first = engine.run_fees(at("2026-02-01"))
    second = engine.run_fees(NOW)

    assert [(fee.fee, fee.amount, fee.period_start) for fee in first.contracts[0].applied] == [
        ("activation", "5.00", at("2026-01-15T10:00"))
    ]
    assert second.fees_applied == 0
    assert engine.activations("ann-contract")[0].status == ActivationStatus.EXPIRED
    assert balance(engine) == Decimal("995.00")


def test_nothing_is_due_before_the_contract_starts(engine: Engine) -> None:
    build(engine, "monthly")

    report = engine.run_fees(at("2026-01-15T09:59"))

    assert report.fees_applied == 0 and report.contracts_seen == 1
    assert engine.activations("ann-contract")[0].last_activation_date is None


def test_a_migrating_contract_is_skipped_with_its_reason(engine: Engine) -> None:
    build(engine, "monthly")
    engine.begin_migration(["ann-contract"])

    report = engine.run_fees(NOW)

    assert report.skipped == 1 and report.fees_applied == 0
    assert (report.contracts[0].outcome, report.contracts[0].reason) == (ContractOutcome.SKIPPED, Code.CONTRACT_MIGRATING.value)
    assert balance(engine) == Decimal("1000.00")


def test_one_contracts_failure_does_not_stop_the_others(engine: Engine) -> None:
    build(engine, "weekly")
    subscriber(engine, "zed", status="closed")
    contract(engine, "zed", "weekly")

    report = engine.run_fees(at("2026-01-16"))

    outcomes = {run.contract_id: (run.outcome, run.reason) for run in report.contracts}
    assert outcomes == {
        "ann-contract": (ContractOutcome.CHARGED, None),
        "zed-contract": (ContractOutcome.FAILED, Code.ACCOUNT_CLOSED.value),
    }
    assert report.failed == 1 and balance(engine) == Decimal("998.00") and balance(engine, "zed-prepaid") == Decimal("1000.00")
    assert engine.activations("zed-contract") == []


def test_a_fee_run_in_the_future_is_refused(engine: Engine) -> None:
    build(engine, "monthly")

    with pytest.raises(InvalidError) as refused:
        engine.run_fees(at("2026-06-01T12:00:01"))

    assert refused.value.code is Code.DATE_IN_THE_FUTURE and refused.value.category is Category.INVALID


def test_a_run_charges_at_most_the_bound_of_periods_per_contract_and_the_next_run_the_rest(engine: Engine) -> None:
    engine.load_catalog(catalog_document())
    subscriber(engine, "ann")
    started = datetime(2023, 6, 1, tzinfo=UTC)
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "ann-contract",
                "subscriber_account_id": "ann",
                "valid_from": started.isoformat(),
                "items": [{"id": "daily_pass", "charge_plan": "daily_pass"}],
                "roles": {"prepaid": "ann-prepaid"},
            }
        )
    )
    due = (NOW - started).days + 1  # every midnight from 1 June 2023 to 1 June 2026

    first = engine.run_fees(NOW)
    second = engine.run_fees(NOW)

    assert due > FEE_PERIODS_PER_CONTRACT_MAX
    assert (first.fees_applied, first.contracts[0].more_due) == (FEE_PERIODS_PER_CONTRACT_MAX, True)
    assert (second.fees_applied, second.contracts[0].more_due) == (due - FEE_PERIODS_PER_CONTRACT_MAX, False)
    assert balance(engine) == Decimal("1000.00") - due * Decimal("0.50")


def _run_in_process(url: str, until: datetime, start: Any) -> int:
    start.wait()
    with Engine(url, create_schema=False) as engine:
        report: FeeRunReport = engine.run_fees(until)
    return report.fees_applied


def test_two_processes_running_fees_at_once_charge_each_period_once(any_url: str) -> None:
    holders = [f"holder{index:02d}" for index in range(12)]
    with Engine(any_url, clock=FixedClock(), new_id=SequentialIds()) as engine:
        engine.load_catalog(catalog_document())
        for holder in holders:
            subscriber(engine, holder)
            contract(engine, holder, "monthly", "weekly", "daily_pass")
    until = at("2026-03-01")
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Manager().Event()
    with spawn.Pool(2) as pool:
        pending = [pool.apply_async(_run_in_process, (any_url, until, start)) for _ in range(2)]
        start.set()
        applied = [result.get(timeout=120) for result in pending]

    # Per contract: 16.45 + 30.00 × 2 (monthly), 7 weeks × 2.00 (weekly), 46 days × 0.50 (daily).
    per_contract = 3 + 7 + 46
    assert sum(applied) == per_contract * len(holders)
    with Engine(any_url, create_schema=False) as engine:
        spent = Decimal("16.45") + 2 * Decimal("30.00") + 7 * Decimal("2.00") + 46 * Decimal("0.50")
        assert {balance(engine, f"{holder}-prepaid") for holder in holders} == {Decimal("1000.00") - spent}
        with engine.database.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(fee_applications)).scalar_one() == per_contract * len(holders)


def test_each_charged_period_stores_a_fee_applied_notification_listed_when_asked(engine: Engine) -> None:
    build(engine, "weekly")

    quiet = engine.run_fees(at("2026-01-15T12:00"))
    asked = engine.run_fees(at("2026-01-22"), notifications=True)

    assert quiet.contracts[0].notifications is None
    notes = asked.contracts[0].notifications
    assert notes is not None and [(note.kind, note.data["period_start"], note.data["amount"]) for note in notes] == [
        ("fee_applied", "2026-01-22T00:00:00+00:00", "2.00")
    ]
    with engine.database.connect() as connection:
        stored = connection.execute(sa.select(notifications.c.kind, notifications.c.contract_id).order_by(notifications.c.id)).all()
    assert [tuple(row) for row in stored] == [("fee_applied", "ann-contract")] * 2


def test_a_fee_taking_a_prepaid_account_below_its_threshold_notifies_low_balance_once(engine: Engine) -> None:
    engine.load_catalog(catalog_document())
    account = {"id": "ann-prepaid", "kind": "prepaid", "initial_balance": "10.00", "low_balance_threshold": "5.00"}
    engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": "ann", "currency": "EUR", "accounts": [account]}))
    contract(engine, "ann", "weekly")

    crossing = engine.run_fees(at("2026-01-29"), notifications=True)  # 8.00, 6.00, then 4.00: crossed
    below = engine.run_fees(at("2026-02-05"), notifications=True)  # 2.00: already below, nothing more

    listed = crossing.contracts[0].notifications or []
    assert [note.kind for note in listed] == ["fee_applied", "fee_applied", "fee_applied", "low_balance"]
    assert [note.kind for note in below.contracts[0].notifications or []] == ["fee_applied"]
    (stored,) = engine.notifications(contract_id="ann-contract", kind=NotificationKind.LOW_BALANCE)
    assert stored.data == {
        "account_id": "ann-prepaid",
        "subscriber_account_id": "ann",
        "threshold": "5.00",
        "balance": "4.00",
        "currency": "EUR",
    }
    assert stored.operation_id == crossing.contracts[0].applied[-1].operation_id
    assert balance(engine) == Decimal("2.00")


def test_a_clients_idempotency_key_never_meets_a_fee_periods_operation(engine: Engine) -> None:
    contract_id = build(engine, "monthly")
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "mobile", "user_id": "ann-phone", "contract_id": contract_id, "valid_from": "2026-01-15T10:00:00+00:00"}
        )
    )
    # The key a fee period's operation was once stored under, used by a client first.
    text = "\n".join((contract_id, "monthly", "subscription", at("2026-01-15T10:00").isoformat()))
    key = f"fee-{hashlib.sha256(text.encode()).hexdigest()}"
    sms = ChargeableItem("sms", at("2026-01-20T09:00"), "mobile", "ann-phone", {"destination": "+33600000000"})
    engine.charge(sms, idempotency_key=key)

    report = engine.run_fees(NOW)

    assert report.fees_applied == 6 and report.contracts_charged == 1
    with engine.database.connect() as connection:
        keys = connection.execute(sa.select(charging_operations.c.idempotency_key)).scalars().all()
    assert keys.count(key) == 1 and keys.count(None) == 6
    assert engine.charge(sms, idempotency_key=key).operation_id != report.contracts[0].applied[0].operation_id

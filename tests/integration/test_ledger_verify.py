"""``Engine.verify_ledger``: a ledger that adds up is consistent; each kind of corruption is found and named."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from kopek import AdjustmentInput, Engine
from kopek.admin.ledger import DifferenceKind, LedgerReport
from kopek.charging.session_views import StopSession, UpdateSession
from kopek.store.schema import account_operations, accounts, charged_items, reservations
from tests.integration.sessions_support import start_call
from tests.worlds import build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    """Charges of every kind: offline (prepaid and postpaid), a session updated and stopped, a live session, an
    adjustment."""
    build_world(engine)
    engine.charge(call(seconds="90"), idempotency_key="call-1")
    engine.charge(call("bob-msisdn", seconds="150"))
    engine.start_session(start_call("s1"))
    engine.update_session(UpdateSession("s1", used_quantity="120", requested_quantity="60"))
    engine.stop_session(StopSession("s1", used_quantity="30"))
    engine.start_session(start_call("s2"))
    engine.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("2.50"), reason="goodwill"))
    return engine


def corrupt(engine: Engine, statement: sa.Executable) -> None:
    with engine.database.begin() as connection:
        connection.execute(statement)


def kinds(report: LedgerReport) -> list[tuple[DifferenceKind, str]]:
    return [(difference.kind, difference.subject) for difference in report.differences]


def test_a_ledger_that_adds_up_is_consistent(world: Engine) -> None:
    report = world.verify_ledger()

    assert report.consistent
    assert (report.differences_total, report.differences) == (0, [])
    assert (report.accounts, report.reservations) == (2, 1)
    assert report.charged_items == report.account_operations - 2 == 4  # the opening and the adjustment post no item


def test_a_balance_that_is_not_the_sum_of_its_operations_is_found(world: Engine) -> None:
    balance = world.account("alice-prepaid").balance
    corrupt(world, sa.update(accounts).where(accounts.c.id == "alice-prepaid").values(balance=balance + Decimal("0.01")))

    report = world.verify_ledger()

    assert not report.consistent
    assert kinds(report) == [(DifferenceKind.BALANCE_NOT_SUM_OF_OPERATIONS, "alice-prepaid")]
    assert (report.differences[0].expected, report.differences[0].found) == (balance, balance + Decimal("0.01"))


def test_a_charged_item_whose_account_operation_was_lost_is_found(world: Engine) -> None:
    operation_id = world.charge(call(seconds="300")).operation_id
    corrupt(world, sa.delete(account_operations).where(account_operations.c.operation_id == operation_id))

    report = world.verify_ledger()

    assert kinds(report) == [
        (DifferenceKind.BALANCE_NOT_SUM_OF_OPERATIONS, "alice-prepaid"),
        (DifferenceKind.CHARGED_ITEM_NOT_POSTED, f"{operation_id}/alice-prepaid"),
    ]


def test_a_charged_item_posted_for_another_amount_is_found(world: Engine) -> None:
    operation_id = world.charge(call("bob-msisdn", seconds="300")).operation_id
    corrupt(world, sa.update(charged_items).where(charged_items.c.operation_id == operation_id).values(amount=Decimal("9.99")))

    report = world.verify_ledger()

    assert kinds(report) == [(DifferenceKind.POSTING_DIFFERS, f"{operation_id}/bob-postpaid")]
    assert report.differences[0].expected == Decimal("9.99")


def test_an_account_operation_without_its_charged_item_is_found(world: Engine) -> None:
    operation_id = world.charge(call(seconds="300")).operation_id
    corrupt(world, sa.delete(charged_items).where(charged_items.c.operation_id == operation_id))

    report = world.verify_ledger()

    assert kinds(report) == [(DifferenceKind.POSTING_WITHOUT_CHARGED_ITEM, f"{operation_id}/alice-prepaid")]


def test_a_reservation_left_by_an_ended_session_is_found(world: Engine) -> None:
    live = world.session("s2")
    corrupt(world, sa.update(reservations).where(reservations.c.session_id == "s2").values(session_id="s1"))
    corrupt(
        world,
        sa.insert(reservations).values(
            session_id="s2", account_id="alice-prepaid", amount=live.reserved_amount, expires_at=live.expires_at
        ),
    )

    report = world.verify_ledger()

    assert kinds(report) == [(DifferenceKind.RESERVATION_OF_ENDED_SESSION, "s1/alice-prepaid")]
    assert report.differences[0].found == live.reserved_amount


def test_differences_are_all_counted_and_the_first_ones_listed(world: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kopek.limits.LEDGER_DIFFERENCES_REPORTED_MAX", 1)
    corrupt(world, sa.update(accounts).values(balance=Decimal("1000")))

    report = world.verify_ledger()

    assert (report.differences_total, len(report.differences)) == (2, 1)

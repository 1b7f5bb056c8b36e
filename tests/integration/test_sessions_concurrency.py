"""Many sessions on one prepaid account at once: reservations never exceed the balance, no update is lost."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

from kopek import Engine, KopekError
from kopek.charging.session_views import SessionResult, StartSession, StopSession, UpdateSession
from kopek.domain.master import AccountId
from kopek.store.uow import UnitOfWork
from tests.integration.sessions_support import reserved_total
from tests.integration.support import operations_sum, run_together
from tests.worlds import AT, balance, build_world

THREADS = 20


def content_session(number: int) -> StartSession:
    """One event of content costs 1.00 (no allowance): alice's 10.00 holds exactly ten grants."""
    return StartSession(
        f"content-{number}", "content", "mobile", "alice-msisdn", AT, 60_000, "units", {"pack_size": 1}, requested_quantity=1
    )


def test_concurrent_starts_never_reserve_more_than_the_balance_and_updates_are_not_lost(engine: Engine) -> None:
    build_world(engine)
    started = run_together([lambda number=number: engine.start_session(content_session(number)) for number in range(THREADS)])
    granted = [result for result in started if isinstance(result, SessionResult)]
    refused = [result for result in started if not isinstance(result, SessionResult)]
    assert all(isinstance(error, KopekError) and error.code == "prepaid_balance_cannot_cover" for error in refused), refused
    assert len(granted) == 10
    assert reserved_total(engine, "alice-prepaid") == Decimal("10.00") == balance(engine, "alice-prepaid")

    updates = [
        lambda session_id=result.session.session_id: engine.update_session(UpdateSession(session_id, used_quantity=1, requested_quantity=1))
        for result in granted
    ]
    outcomes = run_together(updates)
    assert all(isinstance(outcome, SessionResult) for outcome in outcomes), outcomes
    assert balance(engine, "alice-prepaid") == 0 == operations_sum(engine, "alice-prepaid")
    assert reserved_total(engine, "alice-prepaid") == 0
    for result in granted:
        shown = engine.session(result.session.session_id)
        assert (shown.used_quantity, shown.charged_amount, shown.version) == (1, Decimal("1.00"), 2)


WORKERS = 12
SESSIONS_PER_WORKER = 4


def _spendable_now(engine: Engine) -> Decimal:
    """balance − floor − reservations of alice's prepaid account, read in one snapshot."""
    with UnitOfWork(engine.database, writes=False) as uow:
        if uow.dialect == "postgresql":
            uow.connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        account = uow.master.account("alice-prepaid")
        assert account is not None
        held = uow.sessions.reserved(["alice-prepaid"]).get(AccountId("alice-prepaid"), Decimal(0))
        return account.balance - account.floor - held


def _session_life(engine: Engine, worker: int) -> Decimal:
    """Start, use and stop a few sessions, never above the grant; return the usage reported."""
    used_total = Decimal(0)
    for number in range(SESSIONS_PER_WORKER):
        session_id = f"w{worker}-{number}"
        try:
            granted = engine.start_session(replace(content_session(0), session_id=session_id, requested_quantity=2)).granted_quantity
        except KopekError as error:
            assert error.code in ("prepaid_balance_cannot_cover", "storage_busy"), error
            continue
        for _ in range(2):
            used = min(granted, Decimal(1))
            granted = engine.update_session(UpdateSession(session_id, used_quantity=used, requested_quantity=2)).granted_quantity
            used_total += used
        final = min(granted, Decimal(1))
        engine.stop_session(StopSession(session_id, used_quantity=final))
        used_total += final
    return used_total


def test_many_sessions_on_one_account_keep_reservations_within_the_balance(engine: Engine) -> None:
    build_world(engine, alice_balance="30.00")
    samples: list[Decimal] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            samples.append(_spendable_now(engine))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        outcomes = run_together([lambda worker=worker: _session_life(engine, worker) for worker in range(WORKERS)])
    finally:
        done.set()
        watcher.join(timeout=30)
    assert all(isinstance(outcome, Decimal) for outcome in outcomes), outcomes
    assert samples and min(samples) >= 0
    used = sum(outcomes, Decimal(0))
    # One unit of content costs 1.00: every reported unit was charged once, none lost.
    assert balance(engine, "alice-prepaid") == Decimal("30.00") - used == operations_sum(engine, "alice-prepaid")
    assert reserved_total(engine, "alice-prepaid") == 0
    assert engine.live_sessions("alice") == []

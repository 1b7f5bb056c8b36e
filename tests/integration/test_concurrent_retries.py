"""Retries sent at once with one idempotency key answer the first result, whatever the interleaving.

Every test releases its requests together from a barrier, on a SQLite file (writers queued
by ``BEGIN IMMEDIATE``) and on PostgreSQL (connections really in parallel). The balances are
chosen so that a second charge or grant could not be covered: a retry that waited for the
first call and then ran as a new call would answer a refusal instead of the first result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from kopek import ChargeableItem, ChargeResult, Engine
from kopek.charging.session_views import SessionResult, StartSession, StopSession, UpdateSession
from kopek.clock import random_ids
from tests.fakes import FixedClock
from tests.integration.sessions_support import reserved_total
from tests.integration.support import add_subscriber, operation_count, operations_sum, run_together
from tests.worlds import AT, catalog_document

RETRIES = 8


@pytest.fixture
def engine(any_url: str, clock: FixedClock) -> Iterator[Engine]:
    # Random ids: the retries run in threads of one engine.
    with Engine(any_url, clock=clock, new_id=random_ids) as opened:
        opened.load_catalog(catalog_document())
        yield opened


def content_session(session_id: str, user: str, *, key: str) -> StartSession:
    """One event of content costs 1.00; the session asks for one."""
    return StartSession(
        session_id, "content", "mobile", user, AT, 60_000, "units", {"pack_size": 1}, requested_quantity=1, idempotency_key=key
    )


def only_answers(outcomes: list[object]) -> list[object]:
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert errors == [], errors
    return outcomes


def test_retries_of_a_charge_the_balance_covers_once_all_answer_its_result(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="0.10")  # one SMS at 0.10, not two
    sms = ChargeableItem("sms", AT, "mobile", user, {"destination": "33612345678"})

    answers = only_answers(run_together([lambda: engine.charge(sms, idempotency_key="sms-1") for _ in range(RETRIES)]))

    assert all(isinstance(answer, ChargeResult) for answer in answers)
    assert len({answer.operation_id for answer in answers if isinstance(answer, ChargeResult)}) == 1
    assert operation_count(engine) == 1
    assert engine.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(engine, "carol-prepaid")


def test_retries_of_a_start_the_balance_covers_once_all_answer_the_first_grant(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="1.00")
    start = content_session("s1", user, key="start-1")

    answers = only_answers(run_together([lambda: engine.start_session(start) for _ in range(RETRIES)]))

    results = [answer for answer in answers if isinstance(answer, SessionResult)]
    assert len(results) == RETRIES
    assert {(result.granted_quantity, result.reserved_amount) for result in results} == {(Decimal(1), Decimal("1.00"))}
    assert sum(not result.replayed for result in results) == 1
    assert [session.session_id for session in engine.live_sessions("carol")] == ["s1"]
    assert reserved_total(engine, "carol-prepaid") == Decimal("1.00")


def test_retries_of_a_stop_all_answer_the_first_stop(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="1.00")
    engine.start_session(content_session("s1", user, key="start-1"))
    stop = StopSession("s1", used_quantity=1, idempotency_key="stop-1")

    answers = only_answers(run_together([lambda: engine.stop_session(stop) for _ in range(RETRIES)]))

    results = [answer for answer in answers if isinstance(answer, SessionResult)]
    assert len(results) == RETRIES
    assert len({result.model_copy(update={"replayed": False}).model_dump_json() for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert engine.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(engine, "carol-prepaid")
    assert operation_count(engine) == 1


def test_retries_of_an_update_all_answer_the_first_update(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="1.00")
    engine.start_session(content_session("s1", user, key="start-1"))
    update = UpdateSession("s1", used_quantity=1, requested_quantity=1, idempotency_key="update-1")

    answers = only_answers(run_together([lambda: engine.update_session(update) for _ in range(RETRIES)]))

    results = [answer for answer in answers if isinstance(answer, SessionResult)]
    assert len({result.model_copy(update={"replayed": False}).model_dump_json() for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert results[0].grant_refusal == "prepaid_balance_cannot_cover"
    assert engine.session("s1").used_quantity == Decimal(1)
    assert engine.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(engine, "carol-prepaid")


def test_retries_of_a_cancel_all_answer_the_first_cancel(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="1.00")
    engine.start_session(content_session("s1", user, key="start-1"))

    answers = only_answers(run_together([lambda: engine.cancel_session("s1", idempotency_key="cancel-1") for _ in range(RETRIES)]))

    results = [answer for answer in answers if isinstance(answer, SessionResult)]
    assert len(results) == RETRIES
    assert sum(not result.replayed for result in results) == 1
    assert reserved_total(engine, "carol-prepaid") == 0
    assert engine.account("carol-prepaid").balance == Decimal("1.00")


def test_retries_of_a_multiservice_stop_all_answer_the_first_stop(engine: Engine) -> None:
    (user,) = add_subscriber(engine, "carol", initial_balance="2.00")
    for number in (1, 2):
        engine.start_session(replace(content_session(f"s{number}", user, key=f"start-{number}"), reservation_id="r1"))

    def stop() -> list[SessionResult]:
        return engine.stop_reservation("r1", {"s1": 1, "s2": 1}, idempotency_key="stop-r1")

    answers = only_answers(run_together([stop for _ in range(RETRIES)]))

    firsts = [answer for answer in answers if isinstance(answer, list) and not any(result.replayed for result in answer)]
    assert len(firsts) == 1
    assert all(isinstance(answer, list) and len(answer) == 2 for answer in answers)
    assert engine.account("carol-prepaid").balance == Decimal("0.00") == operations_sum(engine, "carol-prepaid")
    assert operation_count(engine) == 2

"""Multiservice sessions: one access per reservation id, retries of cancel and of the multiservice stop, currencies."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from kopek import Category, Code, Engine, KopekError
from kopek.charging.session_views import StopSession
from tests.integration.sessions_support import reserved_total, session_snapshot, start_call
from tests.integration.support import operation_count
from tests.worlds import balance, build_world


def test_a_session_of_another_subscriber_cannot_join_a_reservation(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("alice-voice", reservation_id="ccr-1"))
    before = session_snapshot(engine)

    with pytest.raises(KopekError) as refused:
        engine.start_session(start_call("bob-voice", user="bob-msisdn", reservation_id="ccr-1"))

    assert (refused.value.category, refused.value.reason, refused.value.code) == (
        Category.ILLEGAL_STATE,
        "NOT_AUTHORIZED",
        Code.RESERVATION_OF_ANOTHER_ACCESS,
    )
    assert session_snapshot(engine) == before
    results = engine.stop_reservation("ccr-1", {"alice-voice": "60"})
    assert [result.session.session_id for result in results] == ["alice-voice"]


def test_a_session_cannot_join_by_a_reservation_id_that_is_another_subscribers_session_id(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("alice-voice"))  # its reservation id is its session id

    with pytest.raises(KopekError) as refused:
        engine.start_session(start_call("bob-voice", user="bob-msisdn", reservation_id="alice-voice"))

    assert refused.value.code is Code.RESERVATION_OF_ANOTHER_ACCESS


def test_a_reservation_id_whose_sessions_all_ended_may_start_again_for_another_access(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("alice-voice", reservation_id="ccr-1"))
    engine.stop_session(StopSession("alice-voice", used_quantity="0"))

    started = engine.start_session(start_call("bob-voice", user="bob-msisdn", reservation_id="ccr-1"))

    assert started.session.reservation_id == "ccr-1"


def test_the_sessions_of_one_access_share_a_reservation(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("voice-1", reservation_id="ccr-1", requested="60"))
    second = engine.start_session(start_call("voice-2", reservation_id="ccr-1", requested="60"))
    assert second.session.reservation_id == "ccr-1"


def test_a_retried_cancel_answers_the_first_result_and_another_call_under_its_key_is_refused(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("s1"))
    first = engine.cancel_session("s1", idempotency_key="cancel-1")

    retry = engine.cancel_session("s1", idempotency_key="cancel-1")

    assert (first.replayed, retry.replayed) == (False, True)
    assert retry.model_copy(update={"replayed": False}) == first
    engine.start_session(start_call("s2"))
    with pytest.raises(KopekError) as reused:
        engine.cancel_session("s2", idempotency_key="cancel-1")
    assert reused.value.code is Code.IDEMPOTENCY_KEY_REUSED
    assert [session.session_id for session in engine.live_sessions("alice")] == ["s2"]


def test_a_retried_multiservice_stop_answers_the_first_results_and_charges_once(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(start_call("voice-1", reservation_id="ccr-1", requested="120"))
    engine.start_session(start_call("voice-2", reservation_id="ccr-1", requested="120"))
    first = engine.stop_reservation("ccr-1", {"voice-1": "120", "voice-2": "120"}, idempotency_key="stop-ccr-1")
    money, operations = balance(engine, "alice-prepaid"), operation_count(engine)

    retry = engine.stop_reservation("ccr-1", {"voice-1": "120", "voice-2": "120"}, idempotency_key="stop-ccr-1")

    assert [result.replayed for result in retry] == [True, True]
    assert [result.model_copy(update={"replayed": False}) for result in retry] == first
    assert (balance(engine, "alice-prepaid"), operation_count(engine)) == (money, operations)
    with pytest.raises(KopekError) as reused:
        engine.stop_reservation("ccr-1", {"voice-1": "60"}, idempotency_key="stop-ccr-1")
    assert reused.value.code is Code.IDEMPOTENCY_KEY_REUSED


def test_session_amounts_and_reservations_carry_their_currency(engine: Engine) -> None:
    build_world(engine)
    started = engine.start_session(replace(start_call("s1"), idempotency_key="start-1"))

    assert (started.reserved_amount, started.currency) == (Decimal("2.40"), "EUR")
    assert started.session.currency == "EUR"
    assert [(reservation.amount, reservation.currency) for reservation in started.session.reservations] == [(Decimal("2.40"), "EUR")]
    assert engine.session("s1").currency == "EUR"
    assert engine.start_session(replace(start_call("s1"), idempotency_key="start-1")).currency == "EUR"
    assert reserved_total(engine, "alice-prepaid") == Decimal("2.40")

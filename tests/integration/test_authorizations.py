"""Authorizations: an item's amount reserved, then captured, released or expired, once; every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kopek import ChargeableItem, Engine, KopekError, Resolution
from kopek.charging.authorization_views import AuthorizationStatus, Authorize, Capture
from kopek.charging.session_views import StartSession
from kopek.store.audit_store import AuditFilter
from tests.fakes import FixedClock, SequentialIds
from tests.integration.sessions_support import reserved_total, session_snapshot, start_call
from tests.integration.support import operation_count, operations_sum, run_together
from tests.worlds import AT, balance, build_world, call

TTL_MS = 600_000


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def authorize(engine: Engine, reservation_id: str = "order-1", *, seconds: str = "300", actor: str = "system", **extra: Any) -> Any:
    return engine.authorize(Authorize(call(seconds=seconds), TTL_MS, reservation_id, **extra), actor=actor)


def test_an_authorization_reserves_the_items_amount_and_charges_nothing(world: Engine) -> None:
    authorized = authorize(world).authorization
    # 300 s: 60 free, then 4 started minutes at 0.60.
    assert (authorized.status, authorized.authorized_quantity, authorized.authorized_amount) == (
        AuthorizationStatus.RESERVED,
        300,
        Decimal("2.40"),
    )
    assert [(line.account_id, line.amount) for line in authorized.reservations] == [("alice-prepaid", Decimal("2.40"))]
    assert balance(world, "alice-prepaid") == Decimal("10.00")
    assert reserved_total(world, "alice-prepaid") == Decimal("2.40")
    assert operation_count(world) == 0
    # The money and the free seconds it holds are not there for anything else.
    later = world.quote(call(seconds="1"), maximum_affordable=True)
    assert [(use.before, use.after) for use in later.allowances] == []
    assert later.maximum_affordable is not None and later.maximum_affordable.amounts[0].amount <= Decimal("7.60")


def test_a_capture_charges_the_item_as_an_offline_charge_would(world: Engine) -> None:
    authorize(world)
    captured = world.capture_authorization(Capture("order-1"))
    assert captured.authorization.status is AuthorizationStatus.CAPTURED
    assert captured.charge is not None
    assert [line.amount for line in captured.charge.charged_items or []] == [Decimal("2.40")]
    assert (captured.authorization.captured_quantity, captured.authorization.charged_amount) == (300, Decimal("2.40"))
    assert captured.authorization.reserved_amount == 0 and captured.authorization.reservations == []
    assert balance(world, "alice-prepaid") == Decimal("7.60") == operations_sum(world, "alice-prepaid")
    assert reserved_total(world, "alice-prepaid") == 0


def test_a_capture_of_a_smaller_quantity_charges_less_and_releases_the_rest(world: Engine) -> None:
    authorize(world)
    captured = world.capture_authorization(Capture("order-1", quantity="90"))
    # 60 free, 30 s billed as one started minute.
    assert (captured.authorization.captured_quantity, captured.authorization.charged_amount) == (90, Decimal("0.60"))
    assert balance(world, "alice-prepaid") == Decimal("9.40")
    assert reserved_total(world, "alice-prepaid") == 0


def test_a_capture_above_the_reservation_is_charged_within_the_floor(world: Engine) -> None:
    authorize(world)
    captured = world.capture_authorization(Capture("order-1", quantity="600"))
    assert captured.authorization.charged_amount == Decimal("5.40")
    assert balance(world, "alice-prepaid") == Decimal("4.60")


def test_a_capture_beyond_what_the_account_can_spend_is_refused_and_the_reservation_stays(world: Engine) -> None:
    authorize(world)
    world.start_session(start_call("call-1", requested="600"))  # holds 6.00 of what is left
    before = session_snapshot(world)
    with pytest.raises(KopekError) as refused:
        world.capture_authorization(Capture("order-1", quantity="1200"))
    assert (refused.value.category, refused.value.code) == ("ILLEGAL_STATE", "prepaid_balance_cannot_cover")
    assert session_snapshot(world) == before
    assert world.authorization("order-1").status is AuthorizationStatus.RESERVED
    assert world.capture_authorization(Capture("order-1", quantity="120")).authorization.charged_amount == Decimal("0.60")


def test_a_release_frees_the_reservation_without_charging(world: Engine) -> None:
    authorize(world)
    released = world.release_authorization("order-1")
    assert (released.authorization.status, released.charge, released.authorization.charged_amount) == (
        AuthorizationStatus.RELEASED,
        None,
        0,
    )
    assert (balance(world, "alice-prepaid"), reserved_total(world, "alice-prepaid"), operation_count(world)) == (Decimal("10.00"), 0, 0)
    # The free seconds it held are back.
    assert [use.before for use in world.quote(call(seconds="10")).allowances] == [60]


def test_an_item_the_account_cannot_cover_is_not_authorized_and_nothing_is_written(engine: Engine) -> None:
    build_world(engine, alice_balance="1.00")
    before = session_snapshot(engine)
    with pytest.raises(KopekError) as refused:
        authorize(engine)
    assert (refused.value.category, refused.value.code) == ("ILLEGAL_STATE", "prepaid_balance_cannot_cover")
    assert session_snapshot(engine) == before


def test_an_item_without_a_quantity_is_authorized_by_its_price(world: Engine) -> None:
    sms = ChargeableItem("sms", AT, "mobile", "alice-msisdn", {"destination": "33"})
    authorized = world.authorize(Authorize(sms, TTL_MS, "sms-1")).authorization
    assert (authorized.authorized_quantity, authorized.authorized_amount) == (0, Decimal("0.10"))
    with pytest.raises(KopekError) as refused:
        world.capture_authorization(Capture("sms-1", quantity="2"))
    assert (refused.value.category, refused.value.code) == ("INVALID", "item_class_has_no_quantity")
    assert world.capture_authorization(Capture("sms-1")).authorization.charged_amount == Decimal("0.10")


Resolve = Callable[[Engine, FixedClock], Any]

RESOLUTIONS: dict[str, tuple[Resolve, AuthorizationStatus]] = {
    "capture": (lambda engine, clock: engine.capture_authorization(Capture("order-1")), AuthorizationStatus.CAPTURED),
    "release": (lambda engine, clock: engine.release_authorization("order-1"), AuthorizationStatus.RELEASED),
    "expire": (lambda engine, clock: (clock.advance(milliseconds=TTL_MS), engine.cleanup_expired_sessions()), AuthorizationStatus.EXPIRED),
}
AGAIN: dict[str, Callable[[Engine], Any]] = {
    "capture": lambda engine: engine.capture_authorization(Capture("order-1")),
    "capture-less": lambda engine: engine.capture_authorization(Capture("order-1", quantity="60")),
    "release": lambda engine: engine.release_authorization("order-1"),
}


@pytest.mark.parametrize("first", list(RESOLUTIONS))
@pytest.mark.parametrize("second", list(AGAIN))
def test_an_authorization_is_resolved_once(world: Engine, clock: FixedClock, first: str, second: str) -> None:
    authorize(world)
    resolve, status = RESOLUTIONS[first]
    resolve(world, clock)
    assert world.authorization("order-1").status is status
    assert reserved_total(world, "alice-prepaid") == 0
    before = session_snapshot(world)
    with pytest.raises(KopekError) as refused:
        AGAIN[second](world)
    assert (refused.value.category, refused.value.code) == ("ILLEGAL_STATE", "authorization_already_resolved")
    assert session_snapshot(world) == before


@pytest.mark.parametrize(
    ("resolution", "status", "charged", "left"),
    [
        pytest.param(Resolution.CANCELLED, AuthorizationStatus.EXPIRED, Decimal(0), Decimal("10.00"), id="cancelled-releases"),
        pytest.param(Resolution.CONFIRMED, AuthorizationStatus.EXPIRED, Decimal("2.40"), Decimal("7.60"), id="confirmed-captures"),
    ],
)
def test_an_expired_authorization_gets_its_default_resolution(
    world: Engine, clock: FixedClock, resolution: Resolution, status: AuthorizationStatus, charged: Decimal, left: Decimal
) -> None:
    authorize(world, default_resolution=resolution)
    clock.advance(milliseconds=TTL_MS - 1)
    assert world.cleanup_expired_sessions().resolved == []
    clock.advance(milliseconds=1)
    assert world.cleanup_expired_sessions().resolved == ["order-1"]
    ended = world.authorization("order-1")
    assert (ended.status, ended.charged_amount, ended.reserved_amount) == (status, charged, 0)
    assert balance(world, "alice-prepaid") == left == operations_sum(world, "alice-prepaid")
    assert world.cleanup_expired_sessions().resolved == []


def test_retries_with_an_idempotency_key_answer_the_first_result(world: Engine) -> None:
    first = authorize(world, idempotency_key="auth-1")
    again = authorize(world, idempotency_key="auth-1")
    assert (again.replayed, again.authorization) == (True, first.authorization)
    with pytest.raises(KopekError) as reused:
        authorize(world, seconds="30", idempotency_key="auth-1")
    assert (reused.value.category, reused.value.code) == ("ALREADY_EXISTS", "idempotency_key_reused_with_different_item")
    with pytest.raises(KopekError) as duplicate:
        authorize(world)
    assert (duplicate.value.category, duplicate.value.code) == ("ALREADY_EXISTS", "already_exists")
    captured = world.capture_authorization(Capture("order-1", quantity="120", idempotency_key="cap-1"))
    replayed = world.capture_authorization(Capture("order-1", quantity="120", idempotency_key="cap-1"))
    assert replayed.replayed and replayed.charge == captured.charge
    assert (operation_count(world), balance(world, "alice-prepaid")) == (1, Decimal("9.40"))
    authorize(world, "order-2")
    assert world.release_authorization("order-2", idempotency_key="rel-2").authorization == (
        world.release_authorization("order-2", idempotency_key="rel-2").authorization
    )


def test_without_a_reservation_id_one_is_made(world: Engine) -> None:
    made = world.authorize(Authorize(call(), TTL_MS)).authorization.reservation_id
    assert made and world.authorization(made).status is AuthorizationStatus.RESERVED


def test_session_calls_do_not_see_authorizations(world: Engine) -> None:
    authorize(world)
    for attempt in (
        lambda: world.session("order-1"),
        lambda: world.cancel_session("order-1"),
        lambda: world.cleanup_session("order-1"),
        lambda: world.stop_reservation("order-1"),
    ):
        with pytest.raises(KopekError) as refused:
            attempt()
        assert refused.value.category == "DOES_NOT_EXIST"
    assert world.sessions() == [] and world.live_sessions("alice") == []
    with pytest.raises(KopekError) as refused:
        world.authorization("call-1")
    assert refused.value.category == "DOES_NOT_EXIST"
    world.start_session(start_call("call-1"))
    with pytest.raises(KopekError) as refused:
        world.release_authorization("call-1")
    assert refused.value.category == "DOES_NOT_EXIST"


def test_authorizations_and_their_resolutions_are_audited(world: Engine) -> None:
    authorize(world, actor="shop")
    world.capture_authorization(Capture("order-1"), actor="shop")
    with pytest.raises(KopekError):
        world.release_authorization("order-1", actor="shop")
    records = world.audit_records(AuditFilter(actor="shop"))
    assert [(record.action, record.target, record.outcome) for record in records] == [
        ("authorization.create", "reservation/order-1", "succeeded"),
        ("authorization.capture", "reservation/order-1", "succeeded"),
        ("authorization.release", "reservation/order-1", "refused"),
    ]


def test_capture_release_and_expiry_at_once_resolve_an_authorization_once(world: Engine, clock: FixedClock) -> None:
    authorize(world, default_resolution=Resolution.CONFIRMED)
    clock.advance(milliseconds=TTL_MS)
    with Engine(world.url, clock=clock, new_id=SequentialIds("other")) as other:
        outcomes = run_together(
            [
                lambda: world.capture_authorization(Capture("order-1", quantity="120")),
                lambda: other.release_authorization("order-1"),
                other.cleanup_expired_sessions,
            ]
        )
    captured, released, cleaned = outcomes
    won = [
        not isinstance(captured, BaseException),
        not isinstance(released, BaseException),
        not isinstance(cleaned, BaseException) and cleaned.resolved == ["order-1"],
    ]
    assert won.count(True) == 1, outcomes
    for outcome in (captured, released):
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, KopekError) and outcome.code in ("authorization_already_resolved", "storage_busy"), outcome
    ended = world.authorization("order-1")
    expected = {
        0: (AuthorizationStatus.CAPTURED, Decimal("0.60")),
        1: (AuthorizationStatus.RELEASED, 0),
        2: (AuthorizationStatus.EXPIRED, Decimal("2.40")),
    }
    assert (ended.status, ended.charged_amount) == expected[won.index(True)]
    assert balance(world, "alice-prepaid") == Decimal("10.00") - ended.charged_amount == operations_sum(world, "alice-prepaid")
    assert reserved_total(world, "alice-prepaid") == 0


CONTENT = ChargeableItem("content", AT, "mobile", "alice-msisdn", {"units": 1, "pack_size": 1})
"""One event of content costs 1.00 (no allowance): alice's 10.00 holds exactly ten of them."""


def test_authorizations_and_sessions_at_once_never_reserve_more_than_the_balance(world: Engine) -> None:
    tasks: list[Callable[[], Any]] = []
    for number in range(20):
        if number % 2:
            tasks.append(lambda number=number: world.authorize(Authorize(CONTENT, TTL_MS, f"auth-{number}")))
        else:
            tasks.append(
                lambda number=number: world.start_session(
                    StartSession(f"content-{number}", "content", "mobile", "alice-msisdn", AT, 60_000, "units", {"pack_size": 1}, 1)
                )
            )
    outcomes = run_together(tasks)
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert all(isinstance(error, KopekError) and error.code == "prepaid_balance_cannot_cover" for error in refused), refused
    assert len(outcomes) - len(refused) == 10
    assert reserved_total(world, "alice-prepaid") == Decimal("10.00") == balance(world, "alice-prepaid")


def test_a_postpaid_authorization_holds_credit_until_captured(world: Engine) -> None:
    world.authorize(Authorize(call(user="bob-msisdn", seconds="300"), TTL_MS, "bob-1"))
    assert (reserved_total(world, "bob-postpaid"), balance(world, "bob-postpaid")) == (Decimal("2.40"), 0)
    world.capture_authorization(Capture("bob-1"))
    assert (reserved_total(world, "bob-postpaid"), balance(world, "bob-postpaid")) == (0, Decimal("2.40"))

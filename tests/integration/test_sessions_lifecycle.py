"""The session state machine: each resolution tried twice, and every refused call changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kopek import Engine, KopekError, limits
from kopek.charging.session_views import SessionStatus, StartSession, StopSession, UpdateSession
from tests.integration.sessions_support import reserved_total, session_snapshot, start_call
from tests.worlds import balance, build_world

Resolve = Callable[[Engine], Any]

RESOLUTIONS: dict[str, tuple[Resolve, SessionStatus]] = {
    "stop": (lambda engine: engine.stop_session(StopSession("call-1", used_quantity="120")), SessionStatus.STOPPED),
    "cancel": (lambda engine: engine.cancel_session("call-1"), SessionStatus.CANCELLED),
    "cleanup": (lambda engine: engine.cleanup_session("call-1"), SessionStatus.EXPIRED),
    "stop_reservation": (lambda engine: engine.stop_reservation("call-1", {"call-1": "120"}), SessionStatus.STOPPED),
}
AGAIN: dict[str, Resolve] = {
    "update": lambda engine: engine.update_session(UpdateSession("call-1", used_quantity="60")),
    "stop": lambda engine: engine.stop_session(StopSession("call-1", used_quantity="60")),
    "cancel": lambda engine: engine.cancel_session("call-1"),
    "cleanup": lambda engine: engine.cleanup_session("call-1"),
}


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


@pytest.mark.parametrize("first", list(RESOLUTIONS))
@pytest.mark.parametrize("second", list(AGAIN))
def test_a_session_is_resolved_once(world: Engine, first: str, second: str) -> None:
    world.start_session(start_call("call-1"))
    resolve, status = RESOLUTIONS[first]
    resolve(world)
    assert world.session("call-1").status is status
    assert reserved_total(world, "alice-prepaid") == 0
    before = session_snapshot(world)
    with pytest.raises(KopekError) as refused:
        AGAIN[second](world)
    assert (refused.value.category, refused.value.code) == ("ILLEGAL_STATE", "session_already_ended")
    assert session_snapshot(world) == before


def test_stop_of_a_multiservice_session_without_live_sessions_is_does_not_exist(world: Engine) -> None:
    with pytest.raises(KopekError) as refused:
        world.stop_reservation("nothing-here")
    assert (refused.value.category, refused.value.code) == ("DOES_NOT_EXIST", "not_found")


def test_cancel_releases_without_charging(world: Engine) -> None:
    world.start_session(start_call("call-1", requested="600"))
    cancelled = world.cancel_session("call-1")
    assert cancelled.session.charged_amount == 0 and cancelled.reserved_amount == 0
    assert balance(world, "alice-prepaid") == Decimal("10.00")


def test_live_sessions_of_a_subscriber_account_and_reading_one(world: Engine) -> None:
    world.start_session(start_call("call-1"))
    world.start_session(start_call("call-2"))
    world.cancel_session("call-2")
    assert [view.session_id for view in world.live_sessions("alice")] == ["call-1"]
    assert world.live_sessions("bob") == []
    shown = world.session("call-1")
    assert (shown.contract_id, shown.reservation_id, shown.reserved_amount) == ("alice-contract", "call-1", Decimal("2.40"))
    with pytest.raises(KopekError) as refused:
        world.live_sessions("nobody")
    assert refused.value.category == "DOES_NOT_EXIST"


def _start(**changes: Any) -> Callable[[Engine], Any]:
    def run(engine: Engine) -> Any:
        command = start_call("call-new")
        fields = {name: getattr(command, name) for name in StartSession.__dataclass_fields__}
        return engine.start_session(StartSession(**(fields | changes)))

    return run


REFUSALS = [
    pytest.param(lambda e: e.update_session(UpdateSession("call-1", "-1")), "INVALID", "quantity_negative", id="negative-usage"),
    pytest.param(lambda e: e.update_session(UpdateSession("call-1", "ten")), "INVALID", "request_invalid", id="non-numeric-usage"),
    pytest.param(lambda e: e.update_session(UpdateSession("call-1", 1.5)), "INVALID", "request_invalid", id="float-usage"),
    pytest.param(lambda e: e.stop_session(StopSession("call-1", "-5")), "INVALID", "quantity_negative", id="negative-final-usage"),
    pytest.param(lambda e: e.update_session(UpdateSession("call-9", "1")), "DOES_NOT_EXIST", "not_found", id="unknown-session"),
    pytest.param(lambda e: e.cancel_session("call-9"), "DOES_NOT_EXIST", "not_found", id="unknown-session-cancel"),
    pytest.param(_start(session_id="call-1"), "ALREADY_EXISTS", "already_exists", id="duplicate-session-id"),
    pytest.param(_start(ttl_ms=limits.SESSION_TTL_MS_MIN - 1), "INVALID", "session_ttl_out_of_bounds", id="ttl-below-min"),
    pytest.param(_start(ttl_ms=limits.SESSION_TTL_MS_MAX + 1), "INVALID", "session_ttl_out_of_bounds", id="ttl-above-max"),
    pytest.param(
        _start(quantity_property="destination"), "INVALID", "session_quantity_property_is_not_the_item_quantity", id="not-the-quantity"
    ),
    pytest.param(_start(requested_quantity="-3"), "INVALID", "quantity_negative", id="negative-request"),
    pytest.param(_start(item_class="telepathy"), "PREREQUISITE_MISSING", "item_class_unknown", id="unknown-class"),
    pytest.param(_start(user_id="nobody"), "PREREQUISITE_MISSING", "access_not_found", id="no-access"),
    pytest.param(_start(properties={"destination": "999"}), "ILLEGAL_STATE", "service_not_accessible", id="barred-destination"),
]


@pytest.mark.parametrize(("call", "category", "code"), REFUSALS)
def test_refused_session_calls_change_nothing(world: Engine, call: Resolve, category: str, code: str) -> None:
    world.start_session(start_call("call-1"))
    before = session_snapshot(world)
    with pytest.raises(KopekError) as refused:
        call(world)
    assert (refused.value.category, refused.value.code) == (category, code)
    assert session_snapshot(world) == before


def test_ttl_bounds_are_inclusive(world: Engine) -> None:
    assert world.start_session(start_call("short", ttl_ms=limits.SESSION_TTL_MS_MIN)).granted_quantity > 0
    assert world.start_session(start_call("long", ttl_ms=limits.SESSION_TTL_MS_MAX)).granted_quantity > 0

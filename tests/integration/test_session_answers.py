"""A session call's answer is made before its writes are sent (the session row is locked from its read on): it must be
exactly what reading the session back gives, on both databases, whatever form the client's numbers took."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kopek import Engine
from kopek.charging.session_views import SessionResult, StopSession, UpdateSession
from tests.integration.sessions_support import start_call
from tests.worlds import build_world

Step = Callable[[Engine], SessionResult]

# Usage and requests written as a network element might: exponents, trailing zeros, fractions of a second.
SCRIPT: list[tuple[str, Step]] = [
    ("start", lambda engine: engine.start_session(start_call("call-1", requested="6E+1"))),
    ("update", lambda engine: engine.update_session(UpdateSession("call-1", used_quantity="60.000", requested_quantity="1.2E+2"))),
    ("update without a request", lambda engine: engine.update_session(UpdateSession("call-1", used_quantity="30.5"))),
    ("update past the balance", lambda engine: engine.update_session(UpdateSession("call-1", used_quantity="1", requested_quantity="1E6"))),
    ("stop", lambda engine: engine.stop_session(StopSession("call-1", used_quantity="0.25"))),
    ("start another", lambda engine: engine.start_session(start_call("call-2", requested="90"))),
    ("cancel", lambda engine: engine.cancel_session("call-2")),
    ("start a third", lambda engine: engine.start_session(start_call("call-3", requested="45.50"))),
    ("clean up", lambda engine: engine.cleanup_session("call-3")),
]


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine, alice_balance="50.00")
    return engine


def test_each_answer_is_the_session_as_stored(world: Engine) -> None:
    for name, step in SCRIPT:
        answered = step(world)
        stored = world.session(answered.session.session_id)
        assert answered.session.model_dump_json() == stored.model_dump_json(), name


def test_the_sessions_of_a_stopped_reservation_are_answered_as_stored(world: Engine) -> None:
    world.start_session(start_call("leg-1", reservation_id="multi", requested="60"))
    world.start_session(start_call("leg-2", reservation_id="multi", requested="1.5E+1"))
    answers = world.stop_reservation("multi", {"leg-1": "12.50", "leg-2": "3"})
    assert [answer.session.session_id for answer in answers] == ["leg-1", "leg-2"]
    for answer in answers:
        assert answer.session.model_dump_json() == world.session(answer.session.session_id).model_dump_json()

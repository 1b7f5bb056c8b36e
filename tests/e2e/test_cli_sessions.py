"""``kopek sessions``: a call driven from the command line, its errors, listing and clean-up."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from kopek import Engine
from tests.e2e.cli_support import Kopek
from tests.worlds import AT, build_world


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    with Engine(any_url) as engine:
        build_world(engine)
    return Kopek(url=any_url)


def start(session_id: str, *extra: str) -> list[str]:
    return [
        "sessions", "start", session_id, "--class", "voice_call", "--service-id", "mobile", "--user-id", "alice-msisdn",
        "--quantity", "duration", "-p", "destination=33123", "--at", AT.isoformat(), *extra,
    ]  # fmt: skip


def test_a_call_started_updated_and_stopped_from_the_command_line(kopek: Kopek) -> None:
    started = kopek.json(*start("call-1", "--requested", "600"))
    assert (started["granted_quantity"], started["reserved_amount"]) == ("600", "5.40")
    updated = kopek.json("sessions", "update", "call-1", "--used", "600", "--requested", "600")
    assert (updated["granted_quantity"], updated["reserved_amount"]) == ("420", "4.20")
    assert [view["session_id"] for view in kopek.json("sessions", "list", "alice")["sessions"]] == ["call-1"]
    stopped = kopek.json("sessions", "stop", "call-1", "--used", "60")
    assert (stopped["session"]["status"], stopped["session"]["charged_amount"]) == ("stopped", "6.00")
    assert kopek.json("sessions", "show", "call-1")["impacts"]["balances"][0]["amount"] == "-6.00"
    assert "Charged items" in kopek.ok("sessions", "show", "call-1").stdout


def test_reports_may_say_when_their_usage_began(kopek: Kopek) -> None:
    kopek.json(*start("call-1", "--requested", "600"))
    began = (AT + timedelta(hours=1)).isoformat()
    updated = kopek.json("sessions", "update", "call-1", "--used", "60", "--at", began)
    assert datetime.fromisoformat(updated["charge"]["chargeable_item_info"]["consumption_date"]) == datetime.fromisoformat(began)
    assert kopek.refused("sessions", "stop", "call-1", "--used", "60", "--at", "yesterday")["code"] == "request_invalid"
    stopped = kopek.json("sessions", "stop", "call-1", "--used", "60", "--at", (AT + timedelta(hours=2)).isoformat())
    assert stopped["session"]["status"] == "stopped"


def test_session_errors_exit_1_with_the_structured_error(kopek: Kopek) -> None:
    kopek.json(*start("call-1"))
    assert kopek.refused(*start("call-1"))["code"] == "already_exists"
    assert kopek.refused(*start("call-2", "--ttl-ms", "5"))["code"] == "session_ttl_out_of_bounds"
    assert kopek.refused("sessions", "update", "call-1", "--used", "-3")["code"] == "quantity_negative"
    assert kopek.refused("sessions", "stop", "nope")["category"] == "DOES_NOT_EXIST"
    kopek.json("sessions", "cancel", "call-1")
    assert kopek.refused("sessions", "cancel", "call-1")["code"] == "session_already_ended"


def test_cleanup_of_one_session_and_of_the_expired_ones(kopek: Kopek) -> None:
    kopek.json(*start("call-1", "--default-resolution", "cancelled"))
    assert kopek.json("sessions", "cleanup", "call-1")["resolved"] == ["call-1"]
    kopek.json(*start("call-2", "--ttl-ms", "1000", "--default-resolution", "confirmed", "--requested", "120"))
    time.sleep(1.1)
    assert kopek.json("sessions", "cleanup")["resolved"] == ["call-2"]
    assert kopek.json("sessions", "show", "call-2")["charged_amount"] == "0.60"


def test_serve_takes_the_cleanup_interval() -> None:
    assert "--cleanup-interval-seconds" in Kopek(url=None).run("serve", "--help").stdout


def test_cancel_takes_an_idempotency_key_and_amounts_carry_their_currency(kopek: Kopek) -> None:
    started = kopek.json(*start("call-1", "--requested", "600"))
    assert (started["reserved_amount"], started["currency"], started["session"]["currency"]) == ("5.40", "EUR", "EUR")
    first = kopek.json("sessions", "cancel", "call-1", "--idempotency-key", "cancel-1")
    retry = kopek.json("sessions", "cancel", "call-1", "--idempotency-key", "cancel-1")
    assert (first["replayed"], retry["replayed"]) == (False, True)

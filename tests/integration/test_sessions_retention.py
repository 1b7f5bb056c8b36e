"""Ended sessions are removed by the clean-up once their retention has passed; live ones never; the ledger stays whole."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from kopek import Engine, KopekError, StopSession
from kopek.charging.session_views import Resolution, SessionStatus
from kopek.errors import Code
from kopek.store.schema import charging_operations, protocol_rating_groups, protocol_sessions, session_requests
from tests.fakes import FixedClock
from tests.integration.sessions_support import start_call
from tests.worlds import build_world

DAY_SECONDS = 86_400


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def _gone(engine: Engine, session_id: str) -> bool:
    with pytest.raises(KopekError) as missing:
        engine.session(session_id)
    return missing.value.code is Code.NOT_FOUND


def test_a_stopped_session_stays_for_its_retention_then_the_clean_up_removes_it(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("call-1"))
    world.stop_session(StopSession("call-1", used_quantity="120", idempotency_key="stop-1"))
    clock.advance(seconds=DAY_SECONDS - 1)

    kept = world.cleanup_expired_sessions(retention_seconds=DAY_SECONDS)
    clock.advance(seconds=1)
    removed = world.cleanup_expired_sessions(retention_seconds=DAY_SECONDS)

    assert (kept.removed, removed.removed) == (0, 1)
    assert _gone(world, "call-1")
    with world.database.connect() as connection:
        operations = connection.execute(sa.select(sa.func.count()).where(charging_operations.c.session_id == "call-1")).scalar_one()
        requests = connection.execute(sa.select(sa.func.count()).where(session_requests.c.session_id == "call-1")).scalar_one()
    assert (operations, requests) == (1, 0)  # the charge stays in the ledger; the answer kept for the key goes
    assert world.verify_ledger().consistent


def test_a_live_session_is_never_removed_and_an_expired_one_after_its_retention(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("live", requested="60"))
    world.start_session(start_call("left-alone", user="bob-msisdn", resolution=Resolution.CANCELLED, ttl_ms=1_000))
    clock.advance(seconds=2)
    assert world.cleanup_expired_sessions(retention_seconds=DAY_SECONDS).resolved == ["left-alone"]

    clock.advance(seconds=10 * DAY_SECONDS)
    report = world.cleanup_expired_sessions(retention_seconds=DAY_SECONDS)

    assert (report.resolved, report.removed) == (["live"], 1)  # the live one expired long ago: ended now, removed later
    assert world.session("live").status is SessionStatus.EXPIRED
    assert _gone(world, "left-alone")


def test_a_retry_of_a_removed_session_s_call_finds_no_session(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("call-1"))
    world.stop_session(StopSession("call-1", used_quantity="120", idempotency_key="stop-1"))
    clock.advance(seconds=60)
    world.cleanup_expired_sessions(retention_seconds=0)

    with pytest.raises(KopekError) as missing:
        world.stop_session(StopSession("call-1", used_quantity="120", idempotency_key="stop-1"))

    assert missing.value.code is Code.NOT_FOUND


def test_a_session_an_open_protocol_session_names_is_kept_until_it_closes(world: Engine, clock: FixedClock) -> None:
    world.start_session(start_call("rg-10"))
    world.stop_session(StopSession("rg-10", used_quantity="60"))
    _protocol_session_naming(world, "rg-10", status="open", at=clock())
    clock.advance(seconds=60)

    assert world.cleanup_expired_sessions(retention_seconds=0).removed == 0
    with world.database.begin() as connection:
        connection.execute(sa.update(protocol_sessions).values(status="closed"))
    assert world.cleanup_expired_sessions(retention_seconds=0).removed == 1


def _protocol_session_naming(engine: Engine, session_id: str, *, status: str, at: datetime) -> None:
    with engine.database.begin() as connection:
        connection.execute(
            sa.insert(protocol_sessions).values(
                protocol="gy", id="gy-1", subscriber="alice", status=status, last_sequence=0, created_at=at, updated_at=at
            )
        )
        group = {"protocol": "gy", "session": "gy-1", "rating_group": 10, "session_id": session_id, "final_grant": False}
        connection.execute(sa.insert(protocol_rating_groups).values(**group))


@pytest.mark.parametrize("retention_seconds", [-1, 31_622_401])
def test_a_retention_out_of_bounds_is_invalid(world: Engine, retention_seconds: int) -> None:
    with pytest.raises(KopekError) as refused:
        world.cleanup_expired_sessions(retention_seconds=retention_seconds)

    assert refused.value.code is Code.LIMIT_EXCEEDED

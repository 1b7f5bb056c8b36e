"""What one offline charge and one session step cost in statements and round trips on PostgreSQL: a ratchet.

The counts are measured on a warm engine (its statements already prepared), one call at
a time (see :mod:`tests.integration.round_trips_support`). Each ceiling is the count measured when it was written down;
a change that sends more fails here, a change that sends fewer lowers the ceiling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kopek import Engine
from kopek.charging.session_views import StopSession, UpdateSession
from tests.integration.round_trips_support import MEASURED_CALLS, WARM_UP_CALLS, Traffic, per_call, traffic, world_to_count
from tests.integration.sessions_support import start_call
from tests.worlds import call

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(postgres_url: str) -> Iterator[Engine]:
    with world_to_count(postgres_url) as engine:
        yield engine


def test_an_offline_charge_sends_at_most_its_counted_statements_and_round_trips(world: Engine, tmp_path: Path) -> None:
    keys = (f"charge-{index}" for index in itertools.count())
    for _ in range(WARM_UP_CALLS):
        world.charge(call(), idempotency_key=next(keys))

    with traffic(world, tmp_path) as counted:
        for _ in range(MEASURED_CALLS):
            world.charge(call(), idempotency_key=next(keys))

    statements, transactions, round_trips = per_call(counted)
    # Measured when written (statements counted with BEGIN and COMMIT): 12 statements in 1 transaction, 2 round trips
    # per charge with an idempotency key: one batch reads everything with its locks (BEGIN, the key's lock, the replay
    # check, the contracts, their parts in one statement: items, roles, counters and holds; accounts, reservations),
    # one writes and commits. Before COMMIT joined the writes: 3 round trips. Before the parts were one statement: 16
    # statements. Before the charge's statements were sent in batches: 17 statements, 17 round trips (one each).
    assert statements <= 12, counted.sent
    assert (transactions, counted.rollbacks, counted.parses) == (1, 0, 0)
    assert round_trips <= 2


def test_session_steps_send_at_most_their_counted_statements_and_round_trips(world: Engine, tmp_path: Path) -> None:
    sessions = (f"call-{index}" for index in itertools.count())

    def one_call(counted: dict[str, Traffic] | None) -> None:
        session_id, cancelled = next(sessions), next(sessions)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("start", lambda: world.start_session(start_call(session_id, requested="60"))),
            ("update", lambda: world.update_session(UpdateSession(session_id, used_quantity="60", requested_quantity="60"))),
            ("stop", lambda: world.stop_session(StopSession(session_id, used_quantity="30"))),
            (
                "start with a key",
                lambda: world.start_session(replace(start_call(cancelled, requested="60"), idempotency_key=f"{cancelled}-0")),
            ),
            (
                "update with a key",
                lambda: world.update_session(
                    UpdateSession(cancelled, used_quantity="60", requested_quantity="60", idempotency_key=f"{cancelled}-1")
                ),
            ),
            ("cancel with a key", lambda: world.cancel_session(cancelled, idempotency_key=f"{cancelled}-2")),
        ]
        for name, step in steps:
            if counted is None:
                step()
                continue
            with traffic(world, tmp_path) as step_traffic:
                step()
            for field in ("statements", "transactions", "round_trips", "rollbacks", "parses"):
                setattr(counted[name], field, getattr(counted[name], field) + getattr(step_traffic, field))

    for _ in range(WARM_UP_CALLS):
        one_call(None)
    names = ("start", "update", "stop", "start with a key", "update with a key", "cancel with a key")
    counted = {name: Traffic() for name in names}
    for _ in range(MEASURED_CALLS):
        one_call(counted)

    figures = {name: per_call(step) for name, step in counted.items()}
    # Measured when written (statements with BEGIN and COMMIT, transactions, round trips per step): one batch reads
    # (BEGIN; with a key, its lock and the answer stored under it; a start's reservation lock and the sessions it would
    # conflict with, then its access's contract state as an offline charge reads it; a step's contract and session row
    # locked, then the contract's state: the reservations only for an update, which grants again, nothing more for a
    # cancel, which only releases); one batch writes the charge and the session (its row, reservations, holds), the
    # answer stored under the key and COMMIT. A key adds three statements (its lock, the look-up, the answer) and no
    # round trip.
    # Before the answer was made without reading the session back: start (12, 1, 3), update (17, 1, 3), stop (15, 1, 3).
    # Before the batches: start (19, 1, 19), update (22, 1, 22), stop (20, 1, 20). Before the first statements joined
    # the batches: start (17, 1, 10), update (22, 1, 10), stop (21, 1, 10). Before a contract's parts (items, roles,
    # counters, holds) were read by one statement: start 16, update 21, stop 19, with a key 19, 24 and 14 statements.
    ceilings = {
        "start": (10, 1, 2),
        "update": (15, 1, 2),
        "stop": (13, 1, 2),
        "start with a key": (13, 1, 2),
        "update with a key": (18, 1, 2),
        "cancel with a key": (11, 1, 2),
    }
    for name, (statements, transactions, round_trips) in ceilings.items():
        assert figures[name][0] <= statements, (name, figures[name])
        assert figures[name][1] == transactions, (name, figures[name])
        assert figures[name][2] <= round_trips, (name, figures[name])
        assert (counted[name].rollbacks, counted[name].parses) == (0, 0), name

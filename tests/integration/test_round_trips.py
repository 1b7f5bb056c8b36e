"""What one offline charge and one session step cost in statements and round trips on PostgreSQL: a ratchet.

The counts are measured on a warm engine (its statements already prepared), one call at
a time (see :mod:`tests.integration.round_trips_support`). Each ceiling is the count measured when it was written down;
a change that sends more fails here, a change that sends fewer lowers the ceiling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
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
    # Measured when written (statements counted with BEGIN and COMMIT): 16 statements in 1 transaction, 3 round trips
    # per charge with an idempotency key: one batch reads everything with its locks (BEGIN, the key's lock, the replay
    # check, contracts, items, roles, counters, holds, accounts, reservations), one writes, then COMMIT. Before the
    # charge's statements were sent in batches: 17 statements, 17 round trips (one each).
    assert statements <= 16, counted.sent
    assert (transactions, counted.rollbacks, counted.parses) == (1, 0, 0)
    assert round_trips <= 3


def test_session_steps_send_at_most_their_counted_statements_and_round_trips(world: Engine, tmp_path: Path) -> None:
    sessions = (f"call-{index}" for index in itertools.count())

    def one_call(counted: dict[str, Traffic] | None) -> None:
        session_id = next(sessions)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("start", lambda: world.start_session(start_call(session_id, requested="60"))),
            ("update", lambda: world.update_session(UpdateSession(session_id, used_quantity="60", requested_quantity="60"))),
            ("stop", lambda: world.stop_session(StopSession(session_id, used_quantity="30"))),
        ]
        for name, step in steps:
            if counted is None:
                step()
                continue
            with traffic(world, tmp_path) as step_traffic:
                step()
            counted[name].statements += step_traffic.statements
            counted[name].transactions += step_traffic.transactions
            counted[name].round_trips += step_traffic.round_trips

    for _ in range(WARM_UP_CALLS):
        one_call(None)
    counted = {name: Traffic() for name in ("start", "update", "stop")}
    for _ in range(MEASURED_CALLS):
        one_call(counted)

    figures = {name: per_call(step) for name, step in counted.items()}
    # Measured when written (statements with BEGIN and COMMIT, transactions, round trips per step): each step reads
    # its contract's counters, holds, accounts (locked) and reservations in one batch; update and stop write their
    # charge in one more; every step writes its session row, reservations and holds and reads them back in one more
    # (stop reads the reservations it does not use: one statement more in the same round trip).
    # Before the batches: start (19, 1, 19), update (22, 1, 22), stop (20, 1, 20).
    ceilings = {"start": (17, 1, 10), "update": (22, 1, 10), "stop": (21, 1, 10)}
    for name, (statements, transactions, round_trips) in ceilings.items():
        assert figures[name][0] <= statements, (name, figures[name])
        assert figures[name][1] == transactions, (name, figures[name])
        assert figures[name][2] <= round_trips, (name, figures[name])

"""The crash test: the bank test's load while the server is killed with SIGKILL several times and started again.

Clients send a request again with its key until it is answered. What must hold: every acknowledged charge is stored
once (none lost with the server, none doubled by a retry), every retried request ends with the first result, and the
ledger adds up (see docs/reliability.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kopek import Engine
from tests.e2e.bank_support import Record, Server, build_bank, check_answers, check_ledger, run_clients

pytestmark = [pytest.mark.crash, pytest.mark.postgres]

CLIENTS = 32
LOAD_SECONDS = 24
GRACE_SECONDS = 40
KILLS = 4
SECONDS_BETWEEN_KILLS = 3


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Server, Engine, dict]]:
    with Engine(postgres_url) as engine:
        openings = build_bank(engine)
        running = Server(postgres_url, tmp_path / "kopek-serve.log")
        try:
            running.start()
            yield running, engine, openings
        finally:
            running.stop()


def test_crash(server: tuple[Server, Engine, dict]) -> None:
    running, engine, openings = server
    record = Record()
    killed: list[float] = []
    failures: list[BaseException] = []

    def kill_and_restart() -> None:
        try:
            for _ in range(KILLS):
                time.sleep(SECONDS_BETWEEN_KILLS)  # spacing of the crashes, not a synchronisation
                running.kill()
                killed.append(time.monotonic())
                running.start()
        except BaseException as error:  # handed to the test
            failures.append(error)

    killer = threading.Thread(target=kill_and_restart, daemon=True)
    killer.start()
    run_clients(running.base_url, record, count=CLIENTS, load_seconds=LOAD_SECONDS, grace_seconds=GRACE_SECONDS)
    killer.join(timeout=GRACE_SECONDS)

    assert not killer.is_alive() and not failures, failures
    assert len(killed) == KILLS
    figures = check_answers(record, crashes=True)
    check_ledger(engine, running.base_url, record, openings, figures)
    across = [answer for answer in record.answers if any(answer.sent_at < kill < answer.received_at for kill in killed)]
    assert across, "no request was in flight when the server was killed"
    print(f"crash test: {KILLS} kills, {running.starts} starts, {len(across)} answers to requests in flight at a kill; {figures.line()}")

"""The bank test: a real ``kopek serve`` on PostgreSQL, 32 clients charging, running sessions and refilling a few hot
prepaid accounts and a shared allowance over HTTP, with retries of the same request, some sent at once.

It asserts what docs/reliability.md promises: no 5xx, every retry answered with the first result (never a refusal
after a success), every first result stored once and nothing else charged, every balance equal to its opening plus
what was answered, no posting below a floor without ``usage_above_grant``, and a ledger that adds up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kopek import Engine
from tests.e2e.bank_support import Record, Server, build_bank, check_answers, check_ledger, run_clients

pytestmark = [pytest.mark.bank, pytest.mark.postgres]

CLIENTS = 32
LOAD_SECONDS = 20
GRACE_SECONDS = 40


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


def test_bank(server: tuple[Server, Engine, dict]) -> None:
    running, engine, openings = server
    record = Record()

    run_clients(running.base_url, record, count=CLIENTS, load_seconds=LOAD_SECONDS, grace_seconds=GRACE_SECONDS)

    figures = check_answers(record)
    check_ledger(engine, running.base_url, record, openings, figures)
    print(f"bank test: {figures.line()}")

"""An HTTP charge with an API key costs PostgreSQL the charge's own transaction and nothing more: a ratchet."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from kopek.api.app import create_app
from tests.e2e.http_world import charge_body
from tests.integration.round_trips_support import MEASURED_CALLS, WARM_UP_CALLS, per_call, traffic, world_to_count

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(postgres_url: str) -> Iterator[Engine]:
    with world_to_count(postgres_url) as engine:
        yield engine


def test_an_http_charge_with_an_api_key_is_one_transaction_ended_by_its_commit(world: Engine, tmp_path: Path) -> None:
    secret = world.create_api_key("switch", ApiKeyRole.CHARGING).secret
    headers = {"Authorization": f"Bearer {secret}"}
    keys = (f"http-{index}" for index in itertools.count())
    with TestClient(create_app(world)) as client:
        for _ in range(WARM_UP_CALLS):
            assert client.post("/v1/charging", json=charge_body(idempotency_key=next(keys)), headers=headers).status_code == 201
        with traffic(world, tmp_path) as counted:
            for _ in range(MEASURED_CALLS):
                assert client.post("/v1/charging", json=charge_body(idempotency_key=next(keys)), headers=headers).status_code == 201

    statements, transactions, round_trips = per_call(counted)
    # Measured when written (statements counted with BEGIN and COMMIT): the charge's own 16 statements in its own
    # transaction, 3 round trips (a read batch, a write batch, COMMIT), nothing else. Before the charge's statements
    # went in batches: 17 statements and 17 round trips. Before the API keys were cached, a second transaction per
    # request read the key and ended with a ROLLBACK, which made psycopg deallocate every statement it had prepared on
    # the connection: 17 statements (BEGIN and COMMIT not counted), 2 transactions, 1 ROLLBACK and 21 round trips.
    assert statements <= 16, counted.sent
    assert (transactions, counted.rollbacks, counted.parses) == (1, 0, 0)
    assert round_trips <= 3

"""Recharging over HTTP: ``POST /v1/recharges``, ``GET /v1/contracts/{id}/restoration-point``, ``/v1/recharge-jobs``."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.api.app import create_app
from kopek.store.schema import counter_journal
from tests.fakes import FixedClock
from tests.recharge_world import CORRECTED, NOW, build, month_of_usage, tariff

"""A bound, never reached by a passing run: the job's thread ends long before."""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def corrected(engine: Engine, bare_client: TestClient) -> TestClient:
    """A month charged with the wrong tariff, then the corrected tariff loaded."""
    build(engine)
    for holder in ("ann", "ben"):
        for item in month_of_usage(holder):
            engine.charge(item)
    engine.load_catalog(tariff(*CORRECTED))
    return bare_client


def test_a_recharge_answers_what_it_wrote_and_the_account_shows_the_compensation(corrected: TestClient) -> None:
    response = corrected.post("/v1/recharges", json={"contract_id": "ann-line", "from_date": "2026-06-01T00:00:00Z"})

    assert response.status_code == 201
    result: dict[str, Any] = response.json()
    assert (result["catalog_version"], result["items_recharged"], result["items_changed"]) == (2, 7, 6)
    assert result["compensations"] == [{"account_id": "ann-prepaid", "amount": "0.91", "balance_after": "47.21", "currency": "EUR"}]
    operations = corrected.get("/v1/accounts/ann-prepaid/operations").json()["operations"]
    assert [(each["kind"], each["amount"]) for each in operations][-1] == ("recharge", "0.91")


def test_the_restoration_point_shows_the_state_and_the_effect_of_the_items_since(corrected: TestClient) -> None:
    response = corrected.get("/v1/contracts/ann-line/restoration-point", params={"at": "2026-06-15T00:00:00Z"})

    assert response.status_code == 200
    point = response.json()
    assert point["state"]["shared_counters"][0]["name"] == "free_minutes"
    assert Decimal(point["state"]["shared_counters"][0]["value"]) == 0
    assert (point["items_since"], point["account_effects"]) == (4, [{"account_id": "ann-prepaid", "amount": "-3.20"}])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"contract_id": "nobody", "from_date": "2026-06-01T00:00:00Z"}, 404, "not_found", id="unknown-contract"),
        pytest.param({"contract_id": "ann-line", "from_date": "2025-06-01T00:00:00Z"}, 409, "restoration_point_out_of_reach", id="too-old"),
        pytest.param({"contract_id": "ann-line", "from_date": "2026-06-01T00:00:00"}, 422, "request_invalid", id="no-offset"),
        pytest.param(
            {"contract_id": "ann-line", "from_date": "2026-06-01T00:00:00Z", "catalog_version": 9}, 404, "not_found", id="no-such-catalog"
        ),
    ],
)
def test_refused_recharges_answer_the_error_and_change_nothing(corrected: TestClient, body: dict[str, Any], status: int, code: str) -> None:
    before = corrected.get("/v1/accounts/ann-prepaid").json()

    response = corrected.post("/v1/recharges", json=body)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert corrected.get("/v1/accounts/ann-prepaid").json() == before
    assert corrected.get("/v1/contracts/ann-line").json()["status"] == "active"


def test_a_recharging_job_runs_in_the_background_and_its_status_follows_it(corrected: TestClient) -> None:
    response = corrected.post("/v1/recharge-jobs", json={"from_date": "2026-06-01T00:00:00Z", "plans": ["mobile"]})

    assert response.status_code == 201
    job_id = response.json()["id"]
    corrected.app.state.kopek.job_threads.join()  # type: ignore[attr-defined]
    read = corrected.get(f"/v1/recharge-jobs/{job_id}").json()
    assert (read["total"], read["recharged"], read["refused"]) == (2, 2, 0)
    assert (read["state"], read["progress"], read["compensations"]) == ("succeeded", 1.0, {"EUR": "0.00"})
    assert corrected.get("/v1/recharge-jobs/nothing").status_code == 404


def test_the_served_app_prunes_the_counter_journal_in_the_background(engine: Engine, clock: FixedClock) -> None:
    build(engine)
    for item in month_of_usage("ann"):
        engine.charge(item)
    clock.advance(days=100)  # past the 93-day window: June's entries serve no restoration point

    def changes() -> int:
        with engine.database.connect() as connection:
            query = sa.select(sa.func.count()).select_from(counter_journal).where(counter_journal.c.kind == "change")
            return int(connection.execute(query).scalar_one())

    assert changes() == 2
    with TestClient(create_app(engine, cleanup_interval_seconds=0.05)):
        deadline = time.monotonic() + 10
        while changes() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert changes() == 0

"""``kopek ledger verify`` and ``GET /v1/ledger:verify``: the report, the exit code, the admin role."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kopek import ApiKeyRole, Engine
from kopek.store.schema import accounts
from tests.e2e.cli_support import Kopek
from tests.e2e.http_world import ok
from tests.worlds import build_world, call


def unbalance(engine: Engine) -> None:
    """Add a cent to alice's balance behind the ledger's back."""
    with engine.database.begin() as connection:
        connection.execute(sa.update(accounts).where(accounts.c.id == "alice-prepaid").values(balance=Decimal("10.01")))


@pytest.fixture
def kopek(engine: Engine, any_url: str) -> Kopek:
    build_world(engine)
    engine.charge(call(seconds="90"))
    return Kopek(url=any_url)


def test_the_command_says_the_ledger_adds_up_and_exits_0(kopek: Kopek) -> None:
    report = kopek.json("ledger", "verify")
    assert (report["consistent"], report["differences"]) == (True, [])
    assert "The ledger adds up" in kopek.ok("ledger", "verify").stdout


def test_the_command_lists_the_differences_and_exits_1(kopek: Kopek, engine: Engine) -> None:
    unbalance(engine)

    result = kopek.db("ledger", "verify", "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["consistent"] is False
    assert [(difference["kind"], difference["subject"]) for difference in report["differences"]] == [
        ("balance_is_not_the_sum_of_its_operations", "alice-prepaid")
    ]
    shown = kopek.db("ledger", "verify")
    assert shown.exit_code == 1 and "does not add up" in shown.stdout and "alice-prepaid" in shown.stdout


def test_the_route_answers_the_report(client: TestClient, engine: Engine) -> None:
    assert ok(client.get("/v1/ledger:verify"))["consistent"] is True
    unbalance(engine)

    report = ok(client.get("/v1/ledger:verify"))

    assert (report["consistent"], report["differences_total"]) == (False, 1)
    (difference,) = report["differences"]
    assert (difference["kind"], difference["subject"], difference["expected"], difference["found"]) == (
        "balance_is_not_the_sum_of_its_operations",
        "alice-prepaid",
        "10.00",
        "10.01",
    )


@pytest.mark.parametrize(("role", "status"), [(ApiKeyRole.READ, 403), (ApiKeyRole.CHARGING, 403), (ApiKeyRole.ADMIN, 200)])
def test_the_route_is_for_administrators(client: TestClient, engine: Engine, role: ApiKeyRole, status: int) -> None:
    secret = engine.create_api_key("someone", role).secret
    assert client.get("/v1/ledger:verify", headers={"Authorization": f"Bearer {secret}"}).status_code == status

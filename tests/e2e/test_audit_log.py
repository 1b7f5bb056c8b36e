"""The audit log read over HTTP (``GET /v1/audit``, admin role) and on the command line (``kopek audit list``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from tests.e2e.cli_support import Kopek
from tests.e2e.http_world import error_of, ok


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_audit_log_is_read_page_by_page_with_an_admin_key(engine: Engine, client: TestClient) -> None:
    admin = _bearer(engine.create_api_key("ops", ApiKeyRole.ADMIN).secret)
    for amount in ("1.00", "2.00", "3.00"):
        ok(client.post("/v1/accounts/alice-prepaid/adjustments", json={"amount": amount}, headers=admin), 201)
    refused = client.post("/v1/accounts/alice-prepaid/adjustments", json={"amount": "-1000.00"}, headers=admin)
    assert refused.status_code == 409

    first = ok(client.get("/v1/audit?action=account.adjust&limit=2", headers=admin))
    rest = ok(client.get(f"/v1/audit?action=account.adjust&after_id={first['next_after_id']}", headers=admin))
    refusals = ok(client.get("/v1/audit?outcome=refused&actor=api-key:ops", headers=admin))["records"]

    assert [record["details"]["amount"] for record in first["records"] + rest["records"]] == ["1.00", "2.00", "3.00", "-1000.00"]
    assert rest["next_after_id"] is None
    assert {record["actor"] for record in first["records"]} == {"api-key:ops"}
    assert [(record["target"], record["details"]["error"]["code"]) for record in refusals] == [
        ("account/alice-prepaid", "prepaid_balance_cannot_cover")
    ]


def test_reading_the_audit_log_needs_the_admin_role(engine: Engine, client: TestClient) -> None:
    reader = _bearer(engine.create_api_key("dashboard", ApiKeyRole.READ).secret)

    assert error_of(client.get("/v1/audit", headers=reader), 403)["code"] == "api_key_role_insufficient"
    assert error_of(client.get("/v1/audit"), 401)["code"] == "api_key_missing"


def test_kopek_audit_list_filters_and_prints_json(tmp_path: Path) -> None:
    kopek = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")
    kopek.ok("accounts", "create", "--id", "zoe", "--currency", "EUR", "--prepaid-balance", "5.00")
    kopek.ok("accounts", "update", "zoe", "--status", "blocked")

    records = kopek.json("audit", "list", "--action", "subscriber_account.update")["records"]
    listed = kopek.ok("audit", "list", "--target", "subscriber-account/zoe").stdout

    assert [(record["action"], record["target"], record["details"], record["outcome"]) for record in records] == [
        ("subscriber_account.update", "subscriber-account/zoe", {"status": "blocked"}, "succeeded")
    ]
    assert records[0]["actor"].startswith("cli")
    assert "subscriber_account.create" in listed and "subscriber_account.update" in listed
    assert kopek.refused("audit", "list", "--outcome", "maybe")["code"] == "request_invalid"

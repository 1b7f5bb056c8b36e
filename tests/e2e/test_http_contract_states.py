"""Contract state migration over HTTP with the real app: lock, export (JSON lines), restore in both modes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from tests.contract_state_world import build_family, state_document
from tests.e2e.http_world import ok

JSON_LINES = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def family_client(engine: Engine, bare_client: TestClient) -> TestClient:
    build_family(engine)
    return bare_client


def _sms_body(contract: int) -> dict[str, Any]:
    return {
        "item": {
            "item_class": "sms",
            "consumption_date": "2026-06-01T10:00:00+00:00",
            "service_id": "mobile",
            "user_id": f"carol-msisdn-{contract}",
            "properties": {"destination": "33123"},
        }
    }


def _restore(client: TestClient, mode: str, *documents: dict[str, Any] | str) -> Any:
    body = "\n".join(document if isinstance(document, str) else json.dumps(document) for document in documents) + "\n"
    return client.post(f"/v1/contract-states:restore?mode={mode}", content=body.encode(), headers=JSON_LINES)


def test_migration_runbook_over_http(family_client: TestClient) -> None:
    client = family_client
    ok(client.post("/v1/charging", json=_sms_body(0)), 201)
    assert ok(client.post("/v1/migration:begin", json={"all": True})) == {"action": "begin", "contract_ids": None, "contracts_changed": 3}

    refused = client.post("/v1/charging", json=_sms_body(0))
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert (refused.json()["category"], refused.json()["code"]) == ("TEMPORARY_ILLEGAL_STATE", "contract_migrating")

    exported = client.get("/v1/contract-states")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    assert [json.loads(line)["contract_id"] for line in lines] == ["carol-contract-0", "carol-contract-1", "carol-contract-2"]
    counter = {"name": "sms_sent", "unit": "events", "value": "1", "period_start": None, "expires_at": None}
    assert json.loads(lines[0])["items"] == [{"item_id": "main", "counters": [counter]}]
    assert json.loads(lines[0])["format_version"] == 3

    report = ok(_restore(client, "ALL_OR_NOTHING", state_document("carol-contract-1"), *lines[2:]))
    assert (report["committed"], report["states_restored"], report["failures"]) == (True, 2, [])
    selected = client.get("/v1/contract-states", params={"contract_id": "carol-contract-1"}).text.splitlines()
    assert [json.loads(line)["shared_counters"][0]["value"] for line in selected] == ["120"]

    assert ok(client.post("/v1/migration:end", json={"contract_ids": ["carol-contract-0"]}))["contracts_changed"] == 1
    ok(client.post("/v1/charging", json=_sms_body(0)), 201)


def test_best_effort_answers_a_failure_report(family_client: TestClient) -> None:
    client = family_client
    ok(client.post("/v1/migration:begin", json={"contract_ids": ["carol-contract-0"]}))
    report = ok(_restore(client, "BEST_EFFORT", state_document("carol-contract-0"), state_document("carol-contract-1"), "[1, 2]"))
    assert (report["mode"], report["committed"], report["states_read"], report["states_restored"], report["states_failed"]) == (
        "BEST_EFFORT",
        True,
        3,
        1,
        2,
    )
    first, second = report["failures"]
    assert first == {
        "contract_id": "carol-contract-1",
        "line": 2,
        "category": "ILLEGAL_STATE",
        "reason": None,
        "code": "contract_not_migrating",
        "message": "contract 'carol-contract-1' is active, not migrating; begin the migration lock first",
    }
    assert (second["line"], second["contract_id"], second["code"]) == (3, None, "contract_state_invalid")


def test_all_or_nothing_with_a_failure_commits_nothing(family_client: TestClient) -> None:
    client = family_client
    ok(client.post("/v1/migration:begin", json={"all": True}))
    before = client.get("/v1/contract-states").text
    report = ok(_restore(client, "ALL_OR_NOTHING", state_document("carol-contract-0"), state_document("nobody")))
    assert (report["committed"], report["states_restored"], report["states_failed"]) == (False, 0, 1)
    assert report["failures"][0]["category"] == "DOES_NOT_EXIST"
    assert client.get("/v1/contract-states").text == before


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        pytest.param(("get", "/v1/contract-states?contract_id=nobody", None), 404, "not_found", id="export-unknown-contract"),
        pytest.param(("post", "/v1/contract-states:restore?mode=SOMETIMES", ""), 422, "request_invalid", id="restore-unknown-mode"),
        pytest.param(("post", "/v1/contract-states:restore", ""), 422, "request_invalid", id="restore-without-mode"),
        pytest.param(("post", "/v1/migration:begin", {}), 422, "request_invalid", id="lock-without-selection"),
        pytest.param(("post", "/v1/migration:begin", {"all": True, "contract_ids": ["a"]}), 422, "request_invalid", id="lock-both"),
        pytest.param(("post", "/v1/migration:end", {"contract_ids": ["nobody"]}), 404, "not_found", id="unlock-unknown"),
    ],
)
def test_refusals_answer_the_one_error_shape(family_client: TestClient, request_args: tuple[str, str, Any], status: int, code: str) -> None:
    method, url, body = request_args
    if method == "get":
        response = family_client.get(url)
    elif isinstance(body, str):
        response = family_client.post(url, content=body.encode(), headers=JSON_LINES)
    else:
        response = family_client.post(url, json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert set(response.json()) >= {"category", "reason", "code", "message", "details"}


def test_restore_is_audited_as_the_api(family_client: TestClient, engine: Engine) -> None:
    ok(family_client.post("/v1/migration:begin", json={"all": True}))
    ok(_restore(family_client, "BEST_EFFORT", state_document("carol-contract-2")))
    entry = engine.audit_log(1)[0]
    assert (entry["actor"], entry["action"], entry["details"]["mode"], entry["details"]["states_restored"]) == (
        "api",
        "contract_states.restore",
        "BEST_EFFORT",
        1,
    )


def test_a_restore_body_may_pass_the_request_bound_up_to_its_own(family_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kopek.limits.REQUEST_BODY_BYTES_MAX", 100)
    ok(family_client.post("/v1/migration:begin", json={"all": True}))
    assert ok(_restore(family_client, "BEST_EFFORT", state_document("carol-contract-0")))["states_restored"] == 1
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BODY_BYTES_MAX", 100)
    refused = _restore(family_client, "BEST_EFFORT", state_document("carol-contract-0"))
    assert (refused.status_code, refused.json()["code"]) == (400, "request_too_large")

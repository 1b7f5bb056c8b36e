"""Rating jobs and migrations started over HTTP are audited with the API key that asked for them."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from tests.contract_state_world import build_family
from tests.e2e.http_world import ok


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _actions(engine: Engine, limit: int) -> list[tuple[str, str]]:
    return [(entry["action"], entry["actor"]) for entry in engine.audit_log(limit=limit)]


def _job_done(client: TestClient, job_id: str, headers: dict[str, str]) -> Any:
    for _ in range(500):
        status = ok(client.get(f"/v1/rating-jobs/{job_id}", headers=headers))
        if status["state"] not in {"queued", "running"}:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_rating_job_started_with_an_api_key_is_audited_with_the_keys_name(engine: Engine, client: TestClient) -> None:
    headers = _bearer(engine.create_api_key("nightly-rating", ApiKeyRole.ADMIN).secret)

    started = ok(client.post("/v1/rating-jobs", json={"mode": "DAY_MOST"}, headers=headers), 201)
    _job_done(client, started["id"], headers)

    assert _actions(engine, 1) == [("rating_job.start", "api-key:nightly-rating")]


def test_a_migration_begun_and_ended_with_an_api_key_is_audited_with_the_keys_name(engine: Engine, bare_client: TestClient) -> None:
    build_family(engine)
    headers = _bearer(engine.create_api_key("migration-tool", ApiKeyRole.ADMIN).secret)

    ok(bare_client.post("/v1/migration:begin", json={"all": True}, headers=headers))
    ok(bare_client.post("/v1/migration:end", json={"all": True}, headers=headers))

    assert _actions(engine, 2) == [("migration.end", "api-key:migration-tool"), ("migration.begin", "api-key:migration-tool")]


def test_a_contract_state_restore_with_an_api_key_is_audited_with_the_keys_name(engine: Engine, bare_client: TestClient) -> None:
    build_family(engine)
    headers = _bearer(engine.create_api_key("migration-tool", ApiKeyRole.ADMIN).secret)
    ok(bare_client.post("/v1/migration:begin", json={"all": True}, headers=headers))

    lines = "".join(state.line() + "\n" for state in engine.export_contract_states())
    restored = bare_client.post(
        "/v1/contract-states:restore?mode=BEST_EFFORT", content=lines.encode(), headers=headers | {"Content-Type": "application/x-ndjson"}
    )

    assert restored.status_code == 200, restored.text
    assert _actions(engine, 1) == [("contract_states.restore", "api-key:migration-tool")]

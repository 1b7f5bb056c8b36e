"""API keys with roles: open until a key exists, then every request needs an active key whose role allows it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from tests.e2e.http_world import charge_body, ok
from tests.worlds import catalog_document


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_is_open_while_no_key_exists(client: TestClient) -> None:
    assert client.post("/v1/charging", json=charge_body()).status_code == 201


def test_once_a_key_exists_a_request_without_one_is_refused_with_401(engine: Engine, client: TestClient) -> None:
    engine.create_api_key("billing", ApiKeyRole.READ)

    missing = client.get("/v1/accounts/alice-prepaid")
    unknown = client.get("/v1/accounts/alice-prepaid", headers=bearer("kpk_not-a-key"))

    assert (missing.status_code, missing.json()["code"]) == (401, "api_key_missing")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "api_key_unknown_or_revoked")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json()["category"] == "ILLEGAL_STATE" and missing.json()["reason"] == "NOT_AUTHORIZED"
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("role", "read", "charge", "load_catalog"),
    [
        pytest.param(ApiKeyRole.READ, 200, 403, 403, id="read"),
        pytest.param(ApiKeyRole.CHARGING, 200, 201, 403, id="charging"),
        pytest.param(ApiKeyRole.ADMIN, 200, 201, 200, id="admin"),  # 200: the world's catalog again, no new version
    ],
)
def test_each_role_allows_its_requests_and_those_of_the_roles_below(
    engine: Engine, client: TestClient, role: ApiKeyRole, read: int, charge: int, load_catalog: int
) -> None:
    secret = engine.create_api_key("system-1", role).secret
    headers = bearer(secret)

    statuses = (
        client.get("/v1/accounts/alice-prepaid", headers=headers).status_code,
        client.post("/v1/charging", json=charge_body(), headers=headers).status_code,
        client.post("/v1/catalog", json=catalog_document(), headers=headers).status_code,
    )

    assert statuses == (read, charge, load_catalog)


def test_a_refused_role_changes_nothing_and_says_why(engine: Engine, client: TestClient) -> None:
    secret = engine.create_api_key("dashboard", ApiKeyRole.READ).secret
    before = ok(client.get("/v1/accounts/alice-prepaid", headers=bearer(secret)))["balance"]

    refused = client.post("/v1/charging", json=charge_body(), headers=bearer(secret))

    assert (refused.status_code, refused.json()["code"]) == (403, "api_key_role_insufficient")
    assert ok(client.get("/v1/accounts/alice-prepaid", headers=bearer(secret)))["balance"] == before


def test_a_revoked_key_is_refused(engine: Engine, client: TestClient) -> None:
    secret = engine.create_api_key("old", ApiKeyRole.ADMIN).secret
    engine.create_api_key("new", ApiKeyRole.ADMIN)
    engine.revoke_api_key("old")

    assert client.get("/v1/accounts/alice-prepaid", headers=bearer(secret)).status_code == 401


def test_administrative_operations_are_audited_with_the_keys_name(engine: Engine, client: TestClient) -> None:
    secret = engine.create_api_key("catalog-pipeline", ApiKeyRole.ADMIN).secret

    ok(client.post("/v1/catalog", json=catalog_document(), headers=bearer(secret)), 200)  # the world's catalog again

    (entry, *_) = engine.audit_log(limit=1)
    assert (entry["action"], entry["actor"]) == ("catalog.load", "api-key:catalog-pipeline")


def test_the_openapi_document_declares_the_bearer_scheme(bare_client: TestClient) -> None:
    schemes = bare_client.get("/v1/openapi.json").json()["components"]["securitySchemes"]

    assert schemes == {"HTTPBearer": {"type": "http", "scheme": "bearer", "description": schemes["HTTPBearer"]["description"]}}

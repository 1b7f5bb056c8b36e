"""The API is open only by choice: on a loopback address, or with ``kopek serve --no-auth``.

Revoking the last key needs ``--force``; a server started with keys on another address
refuses every request once none is left, rather than opening. The OpenAPI document says
which routes need a key, and the document and its page are readable without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from kopek.api import serving
from kopek.api.app import create_app
from kopek.api.serving import ServeSettings, build_app
from kopek.errors import Code, IllegalStateError
from tests.e2e.cli_support import Kopek

OPEN_ROUTES = {("GET", "/healthz"), ("GET", "/metrics")}


def test_revoking_the_last_active_key_needs_force(engine: Engine) -> None:
    engine.create_api_key("only", ApiKeyRole.ADMIN)

    with pytest.raises(IllegalStateError) as refused:
        engine.revoke_api_key("only")

    assert refused.value.code is Code.LAST_API_KEY
    assert engine.authenticate(None).keys_in_use
    engine.revoke_api_key("only", force=True)
    assert not engine.authenticate(None).keys_in_use


def test_revoking_a_key_while_another_is_active_needs_no_force(engine: Engine) -> None:
    engine.create_api_key("one", ApiKeyRole.ADMIN)
    engine.create_api_key("two", ApiKeyRole.READ)

    engine.revoke_api_key("one")

    assert [key.name for key in engine.api_keys() if key.revoked_at is None] == ["two"]


def test_the_cli_refuses_to_revoke_the_last_key_without_force_and_warns_with_it(tmp_path: Path) -> None:
    kopek = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")
    kopek.ok("api-keys", "create", "only", "--role", "admin")

    refused = kopek.refused("api-keys", "revoke", "only")
    forced = kopek.ok("api-keys", "revoke", "only", "--force")

    assert refused["code"] == "api_key_is_the_last_active_one"
    assert "--force" in refused["message"]
    assert "no active API key is left" in forced.stderr


def test_a_server_that_does_not_serve_open_refuses_every_request_once_no_key_is_left(engine: Engine) -> None:
    engine.create_api_key("only", ApiKeyRole.ADMIN)
    engine.revoke_api_key("only", force=True)

    with TestClient(create_app(engine, open_without_keys=False)) as closed:
        refused = closed.get("/v1/catalog")
        health = closed.get("/healthz")

    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_missing")
    assert "no active API key exists" in refused.json()["message"]
    assert health.status_code == 200


class _Served:
    """What ``kopek serve`` would serve: the server is replaced, so no socket opens on a public address."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def serve(self, settings: ServeSettings, **options: Any) -> None:
        self.calls.append({"settings": settings, **options})

    def app(self) -> Any:
        """The app a worker would build from the settings ``kopek serve`` passed."""
        return build_app(self.calls[0]["settings"])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> _Served:
    record = _Served()
    monkeypatch.setattr(serving, "serve", record.serve)
    return record


def test_serve_on_a_public_address_without_any_key_is_refused(tmp_path: Path, served: _Served) -> None:
    kopek = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")

    result = kopek.db("serve", "--host", "0.0.0.0", "--json")  # refused before anything is bound

    assert result.exit_code == 1
    assert '"code": "no_api_key_for_a_public_address"' in result.stderr
    assert "--no-auth" in result.stderr
    assert served.calls == []


def test_serve_with_no_auth_says_so_and_serves_open(tmp_path: Path, served: _Served) -> None:
    kopek = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")

    result = kopek.db("serve", "--host", "0.0.0.0", "--no-auth")  # the server is replaced: nothing is bound

    assert result.exit_code == 0, result.stderr
    assert "WITHOUT authentication" in result.stderr
    with TestClient(served.app()) as client:
        assert client.get("/v1/accesses?service_id=mobile&user_id=nobody").status_code == 200


def test_serve_on_loopback_without_any_key_serves_open_and_says_so(tmp_path: Path, served: _Served) -> None:
    kopek = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")

    result = kopek.db("serve", "--host", "127.0.0.1")

    assert result.exit_code == 0, result.stderr
    assert "open to this machine only" in result.stderr
    assert served.calls[0]["host"] == "127.0.0.1"


def test_serve_with_keys_on_a_public_address_never_opens(tmp_path: Path, served: _Served) -> None:
    url = f"sqlite:///{tmp_path / 'kopek.db'}"
    kopek = Kopek(url)
    kopek.ok("api-keys", "create", "only", "--role", "admin")

    result = kopek.db("serve", "--host", "0.0.0.0")  # the server is replaced: nothing is bound
    kopek.ok("api-keys", "revoke", "only", "--force")

    assert result.exit_code == 0, result.stderr
    with TestClient(served.app()) as client:
        assert client.get("/v1/accesses?service_id=mobile&user_id=nobody").status_code == 401


def test_the_document_declares_security_on_every_route_but_health_and_metrics(bare_client: TestClient) -> None:
    document = bare_client.get("/v1/openapi.json").json()

    operations = {(method.upper(), path): operation for path, item in document["paths"].items() for method, operation in item.items()}
    secured = {route for route, operation in operations.items() if operation.get("security") == [{"HTTPBearer": []}]}
    assert secured == set(operations) - OPEN_ROUTES
    assert all("security" not in operations[route] for route in OPEN_ROUTES)


def test_the_document_and_its_page_need_no_key(engine: Engine, bare_client: TestClient) -> None:
    engine.create_api_key("only", ApiKeyRole.ADMIN)

    assert bare_client.get("/v1/openapi.json").status_code == 200
    assert bare_client.get("/v1/docs").status_code == 200
    assert bare_client.get("/v1/catalog").status_code == 401

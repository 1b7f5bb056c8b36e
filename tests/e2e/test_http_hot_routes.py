"""The hot routes (a charge, the session steps) answered past the framework's routing (:mod:`kopek.api.hot_routes`).

Two things must hold: a hot route answers exactly what the framework's route answers (statuses,
bodies, refusals), and every request that is not plainly well-formed is left to the framework's
route with its body, untouched.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from kopek import Engine
from kopek.admin.api_keys import ApiKeyRole
from kopek.api import routes_charging, routes_sessions
from kopek.api.app import api_routes, create_app
from kopek.api.context import ApiContext
from kopek.api.hot_routes import HotRoutes
from kopek.api.metrics import ApiMetrics
from tests.conftest import SchemaPool, postgres_schema_url
from tests.e2e.http_world import charge_body, ok
from tests.e2e.test_http_sessions import start_body
from tests.fakes import FixedClock, SequentialIds
from tests.worlds import build_world

HOT = "application/json"
FRAMEWORK = "application/vnd.kopek+json"
"""A JSON media type the framework's routes read and the hot routes leave to them."""

ALL_SECTIONS = dict.fromkeys(routes_charging.SECTIONS, True)

Call = tuple[str, dict[str, Any] | None, dict[str, str]]

SCRIPT: list[Call] = [
    ("/v1/charging", charge_body(options=ALL_SECTIONS, idempotency_key="call-1"), {}),
    ("/v1/charging", charge_body(options=ALL_SECTIONS, idempotency_key="call-1"), {}),
    ("/v1/charging", charge_body(seconds="60", idempotency_key="call-1"), {}),
    ("/v1/charging", charge_body(idempotency_key="call-2"), {"Idempotency-Key": "other"}),
    ("/v1/charging", charge_body(), {"Idempotency-Key": "call-3"}),
    ("/v1/charging", charge_body(user="nobody-msisdn"), {}),
    ("/v1/charging", charge_body(destination="999", options={"notifications_on_error": True}), {}),
    ("/v1/charging", charge_body(user="bob-msisdn", seconds="90.5"), {}),
    ("/v1/sessions", start_body("call-1", requested=600, idempotency_key="start-1"), {}),
    ("/v1/sessions", start_body("call-1", requested=600, idempotency_key="start-1"), {}),
    ("/v1/sessions", start_body("call-1", requested=600), {}),
    ("/v1/sessions/call-1/updates", {"used_quantity": "600", "requested_quantity": "600"}, {"Idempotency-Key": "u-1"}),
    ("/v1/sessions/call-1/updates", {"used_quantity": "600", "requested_quantity": "600"}, {"Idempotency-Key": "u-1"}),
    ("/v1/sessions/call-1/stop", {"used_quantity": 200}, {}),
    ("/v1/sessions/call-1/stop", {"used_quantity": 200}, {}),
    ("/v1/sessions/call-9/updates", {"used_quantity": "1"}, {}),
    ("/v1/sessions", start_body("call-2", user_id="bob-msisdn"), {}),
    ("/v1/sessions/call-2/cancel", None, {}),
    ("/v1/sessions/call-2/cancel", {"idempotency_key": "c-2"}, {}),
]
"""Charges, replays, refusals raised inside the engine and session steps, in an order where each depends on the last."""


@pytest.fixture
def twin(any_url: str, tmp_path: Path, migrated_sqlite_file: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A second engine on a database of its own of the same kind as ``engine``'s, with the same clock and ids."""
    if any_url.startswith("sqlite"):
        path = tmp_path / "twin.db"
        shutil.copyfile(migrated_sqlite_file, path)
        with Engine(f"sqlite:///{path}", clock=FixedClock(), new_id=SequentialIds()) as opened:
            yield opened
        return
    pool: SchemaPool = request.getfixturevalue("schema_pool")
    schema = pool.take()
    try:
        with Engine(postgres_schema_url(schema), clock=FixedClock(), new_id=SequentialIds()) as opened:
            yield opened
    finally:
        pool.give_back(schema)


def _answers(engine: Engine, media_type: str) -> list[tuple[int, str, Any]]:
    build_world(engine)
    answers = []
    with TestClient(create_app(engine)) as client:
        for number, (path, body, headers) in enumerate(SCRIPT):
            content = None if body is None else json.dumps(body)
            sent = {"Content-Type": media_type, "X-Request-Id": f"call-{number}", **headers}
            response = client.post(path, content=content, headers=sent)
            answers.append((response.status_code, response.headers["content-type"], response.json()))
    return answers


def test_a_hot_route_answers_what_the_frameworks_route_answers(engine: Engine, twin: Engine) -> None:
    hot = _answers(engine, HOT)
    framework = _answers(twin, FRAMEWORK)

    assert hot == framework
    statuses = [status for status, _, _ in hot]
    assert statuses == [201, 200, 409, 422, 201, 404, 409, 201, 201, 200, 409, 200, 200, 200, 409, 404, 201, 200, 409]


class _Framework:
    """Stands for the framework's routes: records what reaches it and answers 299."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        message = await receive()
        self.reached.append((scope["path"], message.get("body", b"")))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def hot_client(engine: Engine) -> Iterator[tuple[TestClient, _Framework]]:
    build_world(engine)
    framework = _Framework()
    context = ApiContext(engine=engine, metrics=ApiMetrics(route.name for route in api_routes()))
    endpoints = [*routes_charging.hot_endpoints(), *routes_sessions.hot_endpoints()]
    app = HotRoutes(framework, context=context, routes=api_routes(), endpoints=endpoints)
    engine.authenticate(None)  # the keys in memory are fresh: the hot routes may authorize from them
    with TestClient(app) as client:
        yield client, framework


def test_a_plainly_well_formed_request_never_reaches_the_framework(hot_client: tuple[TestClient, _Framework]) -> None:
    client, framework = hot_client

    ok(client.post("/v1/charging", json=charge_body()), 201)
    ok(client.post("/v1/charging", content=json.dumps(charge_body()), headers={"Content-Type": "application/json; charset=utf-8"}), 201)
    ok(client.post("/v1/sessions", json=start_body("call-1")), 201)
    ok(client.post("/v1/sessions/call-1/updates", json={"used_quantity": "60"}))
    ok(client.post("/v1/sessions/call-1/stop", json={}))
    ok(client.post("/v1/sessions", json=start_body("call-2")), 201)
    ok(client.post("/v1/sessions/call-2/cancel"))

    assert framework.reached == []


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        pytest.param("/v1/charging", b'{"item": ', {}, id="malformed-json"),
        pytest.param("/v1/charging", b'{"item": {}}', {}, id="invalid-body"),
        pytest.param("/v1/charging", b"", {}, id="no-body"),
        pytest.param("/v1/charging", b"[1]", {}, id="not-an-object"),
        pytest.param("/v1/charging", b'{"a": 1}', {"Content-Type": "text/plain"}, id="not-json"),
        pytest.param("/v1/charging", b'{"a": 1}', {"Content-Type": FRAMEWORK}, id="another-json-type"),
        pytest.param("/v1/charging", b"{}", {"Idempotency-Key": ""}, id="empty-key-header"),
        pytest.param("/v1/charging", b"{}", {"Idempotency-Key": "k" * 1000}, id="long-key-header"),
        pytest.param("/v1/charging/", b"{}", {}, id="trailing-slash"),
        pytest.param("/v1/sessions/a/b/stop", b"{}", {}, id="slash-in-session-id"),
        pytest.param("/v1/sessions//stop", b"{}", {}, id="empty-session-id"),
        pytest.param(f"/v1/sessions/{'s' * 1000}/stop", b"{}", {}, id="long-session-id"),
        pytest.param("/v1/sessions/call-1/cleanup", b"", {}, id="not-a-hot-step"),
        pytest.param("/v1/sessions:cleanup", b"", {}, id="not-a-hot-route"),
    ],
)
def test_any_other_request_reaches_the_framework_with_its_body(
    hot_client: tuple[TestClient, _Framework], path: str, content: bytes, headers: dict[str, str]
) -> None:
    client, framework = hot_client

    response = client.post(path, content=content, headers={"Content-Type": "application/json", **headers})

    assert response.status_code == 299
    assert framework.reached == [(path, content)]


def test_a_request_waiting_for_the_keys_to_be_read_again_reaches_the_framework(
    engine: Engine, hot_client: tuple[TestClient, _Framework]
) -> None:
    client, framework = hot_client
    engine.create_api_key("charger", ApiKeyRole.CHARGING)  # the keys in memory must be read again before they answer
    assert engine.authenticate_from_memory(None) is None

    assert client.post("/v1/charging", json=charge_body()).status_code == 299
    assert len(framework.reached) == 1


def test_a_refused_key_is_answered_as_the_frameworks_route_answers_it(engine: Engine) -> None:
    build_world(engine)
    reader = engine.create_api_key("reader", ApiKeyRole.READ).secret
    presented = [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {reader}"}]
    answers: dict[str, list[tuple[int, Any]]] = {HOT: [], FRAMEWORK: []}
    with TestClient(create_app(engine)) as client:
        engine.authenticate(None)  # fresh keys in memory: the hot route refuses on its own
        for media_type, refused in answers.items():
            for number, headers in enumerate(presented):
                sent = {"Content-Type": media_type, "X-Request-Id": f"call-{number}", **headers}
                response = client.post("/v1/charging", content=json.dumps(charge_body()), headers=sent)
                refused.append((response.status_code, response.json()))

    assert answers[HOT] == answers[FRAMEWORK]
    assert [(status, body["code"]) for status, body in answers[HOT]] == [
        (401, "api_key_missing"),
        (401, "api_key_unknown_or_revoked"),
        (403, "api_key_role_insufficient"),
    ]

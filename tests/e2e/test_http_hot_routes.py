"""The hot routes (a charge, the session steps) answered past the framework's routing (:mod:`kopek.api.hot_routes`).

Two things must hold: a hot route answers exactly what the framework's route answers (statuses,
bodies, refusals), and every request that is not plainly well-formed is left to the framework's
route with its body, untouched.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kopek import Engine, limits
from kopek.admin.api_keys import ApiKeyRole
from kopek.api import routes_charging, routes_sessions
from kopek.api.app import api_routes, create_app
from kopek.api.context import ApiContext
from kopek.api.hot_routes import HotEndpoint, HotRoutes
from kopek.api.metrics import ApiMetrics
from tests.conftest import SchemaPool, postgres_schema_url
from tests.e2e.http_world import charge_body, error_of, ok
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
def hot_context(engine: Engine) -> ApiContext:
    build_world(engine)
    return ApiContext(engine=engine, metrics=ApiMetrics(route.name for route in api_routes()))


def _hot_routes(app: ASGIApp, context: ApiContext, endpoints: list[HotEndpoint] | None = None) -> HotRoutes:
    endpoints = endpoints or [*routes_charging.hot_endpoints(), *routes_sessions.hot_endpoints()]
    context.engine.authenticate(None)  # the keys in memory are fresh: the hot routes may authorize from them
    return HotRoutes(app, context=context, routes=api_routes(), endpoints=endpoints)


@pytest.fixture
def hot_client(hot_context: ApiContext) -> Iterator[tuple[TestClient, _Framework]]:
    framework = _Framework()
    with TestClient(_hot_routes(framework, hot_context)) as client:
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
        pytest.param("/v1/charging", json.dumps(charge_body(user="a\u0000b")).encode(), {}, id="nul-in-body"),
        pytest.param("/v1/charging?tag=%00", json.dumps(charge_body()).encode(), {}, id="nul-in-query"),
        pytest.param("/v1/charging", b" " * limits.REQUEST_BODY_BYTES_MAX + b"{}", {}, id="body-over-the-bound"),
    ],
)
def test_any_other_request_reaches_the_framework_with_its_body(
    hot_client: tuple[TestClient, _Framework], path: str, content: bytes, headers: dict[str, str]
) -> None:
    client, framework = hot_client

    response = client.post(path, content=content, headers={"Content-Type": "application/json", **headers})

    assert response.status_code == 299
    assert framework.reached == [(path.partition("?")[0], content)]


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


def test_a_hot_answer_is_observed_as_every_answer_is(
    hot_context: ApiContext, hot_client: tuple[TestClient, _Framework], caplog: pytest.LogCaptureFixture
) -> None:
    client, framework = hot_client

    with caplog.at_level(logging.INFO, logger="kopek.requests"):
        charged = client.post("/v1/charging", json=charge_body(), headers={"X-Request-Id": "gw-1"})
        refused = client.post("/v1/charging", json=charge_body(user="nobody-msisdn"))

    assert framework.reached == []
    assert (charged.status_code, charged.headers["X-Request-Id"]) == (201, "gw-1")
    assert error_of(refused, 404)["code"] == "access_not_found"
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-Id"])
    lines = [record for record in caplog.records if record.name == "kopek.requests"]
    assert [(line.request_id, line.operation, line.status, line.outcome) for line in lines] == [  # type: ignore[attr-defined]
        ("gw-1", "charge_item", 201, "succeeded"),
        (refused.headers["X-Request-Id"], "charge_item", 404, "PREREQUISITE_MISSING"),
    ]
    text = generate_latest(hot_context.metrics.registry).decode()
    assert 'kopek_requests_total{operation="charge_item",outcome="succeeded"} 1.0' in text
    assert (
        'kopek_refusals_total{category="PREREQUISITE_MISSING",code="access_not_found",operation="charge_item",reason="NOT_AUTHORIZED"} 1.0'
        in text
    )


def test_an_unexpected_fault_of_a_hot_answer_is_logged_and_answered_as_one(
    hot_context: ApiContext, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(_context: ApiContext, _body: Any, _parameter: str | None, _key: str | None) -> Response:
        raise RuntimeError("a defect")

    framework = _Framework()
    app = _hot_routes(framework, hot_context, [HotEndpoint("charge_item", routes_charging.ChargeRequest, failing)])
    with TestClient(app) as client, caplog.at_level(logging.INFO):
        response = client.post("/v1/charging", json=charge_body(), headers={"X-Request-Id": "gw-2"})

    assert framework.reached == []
    body = error_of(response, 500)
    assert (body["code"], body["request_id"]) == ("unexpected_fault", "gw-2")
    faults = [record for record in caplog.records if record.name == "kopek.api"]
    assert [record.exc_info[1].args for record in faults if record.exc_info and record.exc_info[1]] == [("a defect",)]
    observed = [record for record in caplog.records if record.name == "kopek.requests"]
    assert [(line.status, line.outcome) for line in observed] == [(500, "ILLEGAL_SYSTEM_STATE")]  # type: ignore[attr-defined]

"""Each HTTP request observed: its request id, one log line, its metrics.

The request id is the client's ``X-Request-Id`` when it is a plausible id (1 to
``REQUEST_ID_CHARS_MAX`` letters, digits and ``._:/+=-``), else a new one; it goes back in the
answer's ``X-Request-Id`` header, in every error body (``request_id``) and in the log line of the
request (logger ``kopek.requests``: method, route, status, outcome, duration). The outcome is
``succeeded``, ``replayed`` (a 200 from an operation whose first answer is 201) or the category of
the error the body holds.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kopek import limits
from kopek.api.metrics import REPLAYED, SUCCEEDED, ApiMetrics

REQUEST_ID_HEADER: Final = "X-Request-Id"
ERROR_BODY_BYTES_MAX: Final = 65_536
"""How much of an error answer is read to learn its category; error bodies are far smaller."""
UNROUTED: Final = "unrouted"
"""The operation of a request no route took (an unknown path, the API pages)."""

_PLAUSIBLE_ID = re.compile(rf"[A-Za-z0-9._:/+=-]{{1,{limits.REQUEST_ID_CHARS_MAX}}}")

request_log = logging.getLogger("kopek.requests")

_current_request_id: ContextVar[str | None] = ContextVar("kopek_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being answered in this context; None outside a request."""
    return _current_request_id.get()


def request_id_of(scope: Scope) -> str:
    """The client's ``X-Request-Id`` when it is plausible, else a new id (32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return request_id_from(value.decode("latin-1"))
    return request_id_from(None)


def request_id_from(header: str | None) -> str:
    """The request id for the value of the first ``X-Request-Id`` header (None: no such header)."""
    if header is not None:
        text = header.strip()
        if _PLAUSIBLE_ID.fullmatch(text):
            return text
    return uuid.uuid4().hex


def enter_request(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current request's id in this context, until :func:`leave_request` with the token."""
    return _current_request_id.set(request_id)


def leave_request(token: Token[str | None]) -> None:
    _current_request_id.reset(token)


@dataclass
class _Answer:
    """What the app answered, as far as the observer needs it."""

    status: int = 500
    error: bytearray = field(default_factory=bytearray)
    """The start of an error answer's body, to read its category."""


class RequestObserver:
    """ASGI middleware, the outermost one: request id, log line and metrics of every HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = enter_request(request_id)
        started = time.perf_counter()
        answer = _Answer()

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode("latin-1"))]
            elif message["type"] == "http.response.body" and answer.status >= 400 and len(answer.error) < ERROR_BODY_BYTES_MAX:
                answer.error.extend(message.get("body", b"")[: ERROR_BODY_BYTES_MAX - len(answer.error)])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            leave_request(token)
            self._record(scope, request_id, answer, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, answer: _Answer, duration_seconds: float) -> None:
        record_request(self.metrics, scope, request_id, answer.status, bytes(answer.error), duration_seconds)


def record_request(metrics: ApiMetrics, scope: Scope, request_id: str, status: int, error_body: bytes, duration_seconds: float) -> None:
    """The metrics and the log line of one answered request: its route (``scope["route"]``, if one took it), its status and,
    for an error answer, the start of its body (whose category, reason and code it reads)."""
    route = scope.get("route")
    operation = route.name if isinstance(route, APIRoute) else UNROUTED
    error = _error_of(status, error_body) if status >= 400 else None
    outcome = _outcome(route, status, error)
    metrics.observe_request(operation, outcome, duration_seconds)
    if error is not None:
        metrics.observe_refusal(operation, error.get("category", ""), error.get("reason"), error.get("code", ""))
    request_log.info(
        "%s %s %s %s %.1f ms",
        scope.get("method"),
        scope.get("path"),
        status,
        outcome,
        duration_seconds * 1000,
        extra={
            "request_id": request_id,
            "method": scope.get("method"),
            "route": route.path if isinstance(route, APIRoute) else scope.get("path"),
            "operation": operation,
            "status": status,
            "outcome": outcome,
            "duration_ms": round(duration_seconds * 1000, 3),
        },
    )


def _error_of(status: int, error_body: bytes) -> dict[str, Any]:
    """The category, reason and code of an error answer (the one error shape); an unreadable one is a system fault."""
    try:
        body = json.loads(error_body)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("category"), str):
        return {"category": "ILLEGAL_SYSTEM_STATE" if status >= 500 else "INVALID", "reason": None, "code": ""}
    return body


def _outcome(route: object, status: int, error: dict[str, Any] | None) -> str:
    if error is not None:
        return str(error["category"])
    creates = isinstance(route, APIRoute) and route.status_code == 201
    return REPLAYED if creates and status == 200 else SUCCEEDED

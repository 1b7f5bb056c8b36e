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
from contextvars import ContextVar
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
            text = str(value.decode("latin-1")).strip()
            if _PLAUSIBLE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


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
        token = _current_request_id.set(request_id)
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
            _current_request_id.reset(token)
            self._record(scope, request_id, answer, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, answer: _Answer, duration_seconds: float) -> None:
        route = scope.get("route")
        operation = route.name if isinstance(route, APIRoute) else UNROUTED
        error = _error_of(answer) if answer.status >= 400 else None
        outcome = _outcome(route, answer.status, error)
        self.metrics.observe_request(operation, outcome, duration_seconds)
        if error is not None:
            self.metrics.observe_refusal(operation, error.get("category", ""), error.get("reason"), error.get("code", ""))
        request_log.info(
            "%s %s %s %s %.1f ms",
            scope.get("method"),
            scope.get("path"),
            answer.status,
            outcome,
            duration_seconds * 1000,
            extra={
                "request_id": request_id,
                "method": scope.get("method"),
                "route": route.path if isinstance(route, APIRoute) else scope.get("path"),
                "operation": operation,
                "status": answer.status,
                "outcome": outcome,
                "duration_ms": round(duration_seconds * 1000, 3),
            },
        )


def _error_of(answer: _Answer) -> dict[str, Any]:
    """The category, reason and code of an error answer (the one error shape); an unreadable one is a system fault."""
    try:
        body = json.loads(bytes(answer.error))
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("category"), str):
        return {"category": "ILLEGAL_SYSTEM_STATE" if answer.status >= 500 else "INVALID", "reason": None, "code": ""}
    return body


def _outcome(route: object, status: int, error: dict[str, Any] | None) -> str:
    if error is not None:
        return str(error["category"])
    creates = isinstance(route, APIRoute) and route.status_code == 201
    return REPLAYED if creates and status == 200 else SUCCEEDED

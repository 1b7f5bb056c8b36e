"""The hot routes (an offline charge, the session steps) answered before the framework and its middlewares.

FastAPI finds a route by trying every route of the API in turn, then solves its dependencies and
validates its body through generic machinery, and each ASGI middleware wraps the request's
``receive`` and ``send`` in closures of its own: on ``POST /v1/charging`` that was most of the CPU
of the server's event loop, which every request of a worker shares (docs/performance.md,
"Serving"). :class:`HotRoutes` is the app's outermost layer (its middleware stack, set by
:func:`~kopek.api.app.create_app`). It answers the requests of a few routes itself when they are
plainly well-formed, and does for them, in one pass, what the middlewares do for every request:

- the body is bounded: a declared ``Content-Length`` within the request bound
  (:func:`~kopek.api.request_limits.body_bytes_max`), and no more bytes than that read;
- no NUL character anywhere (:func:`~kopek.api.request_text.nul_location`);
- the path matches the route's template exactly, the body is JSON (``Content-Type:
  application/json``) that validates into the route's request model, the ``Idempotency-Key``
  header (if any) is within its bounds, and the keys in memory are fresh enough to authorize it;
- the request id, the metrics and the log line of :class:`~kopek.api.observing.RequestObserver`,
  and the answer of :class:`~kopek.api.errors.FaultBarrier` to an unexpected fault.

It checks the API key the way every route does, validates the body with the same model, runs the
same blocking answer on the same threads and answers a refusal with the same error body.

Every other request, including every malformed, invalid, oversized or oddly encoded one, goes on to
the middlewares and the framework's route with what was read of it, untouched, so what a client is
told about a bad request has one source. The routes stay declared in their modules, which is
where the OpenAPI document comes from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kopek import limits
from kopek.admin.api_keys import ApiKeyRole
from kopek.api.auth import allowed_actor, bearer_secret, required_role
from kopek.api.context import ApiContext
from kopek.api.errors import error_response, fault_answer
from kopek.api.exact_json import parse_exact_json
from kopek.api.observing import ERROR_BODY_BYTES_MAX, enter_request, leave_request, record_request, request_id_from
from kopek.api.request_limits import body_bytes_max, declared_length
from kopek.api.request_text import nul_location, replaying
from kopek.errors import KopekError

HotAnswer = Callable[[ApiContext, Any, str | None, str | None], Response]
"""The blocking work of a hot route: ``(context, body, path parameter, Idempotency-Key header) -> answer``; it may raise
:class:`~kopek.errors.KopekError`, answered with the error body. The body is None for an absent optional body."""


@dataclass(frozen=True, slots=True)
class HotEndpoint:
    """A route's endpoint (by name) that :class:`HotRoutes` may answer, the model of its body and its blocking answer."""

    name: str
    body: type[BaseModel]
    answer: HotAnswer
    body_required: bool = True


@dataclass(frozen=True, slots=True)
class _Hot:
    endpoint: HotEndpoint
    route: APIRoute
    """The declared route, set as the request's ``route`` so that the observer names and counts it as the framework's would."""
    prefix: str
    suffix: str | None
    """After the path parameter; None: the route has none and the path must equal ``prefix``."""
    role: ApiKeyRole


def _template(route: APIRoute) -> tuple[str, str | None]:
    """A route's path as the text before and after its one parameter (``/v1/sessions/``, ``/stop``), or the whole path."""
    before, brace, rest = route.path.partition("{")
    if not brace:
        return route.path, None
    _, _, after = rest.partition("}")
    if "{" in after:
        raise ValueError(f"a hot route has at most one path parameter: {route.path}")
    return before, after


class HotRoutes:
    """ASGI app, the outermost layer: answer the requests of ``endpoints`` that need nothing but the plain case, hand every
    other request (and every other event) to ``app``, the middlewares and the framework."""

    def __init__(self, app: ASGIApp, *, context: ApiContext, routes: Sequence[APIRoute], endpoints: Sequence[HotEndpoint]) -> None:
        self.app = app
        self._context = context
        by_name = {route.name: route for route in routes}
        self._exact: dict[str, _Hot] = {}
        self._templated: list[_Hot] = []
        for endpoint in endpoints:
            route = by_name[endpoint.name]
            assert route.methods == {"POST"}, "hot routes are POST routes"
            prefix, suffix = _template(route)
            role = required_role("POST", route.path)
            assert role is not None, "hot routes need a key"
            hot = _Hot(endpoint, route, prefix, suffix, role)
            if suffix is None:
                self._exact[prefix] = hot
            else:
                self._templated.append(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        matched = self._match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        bytes_max = body_bytes_max(scope)
        declared = declared_length(scope)
        if declared is None or not 0 <= declared <= bytes_max:
            await self.app(scope, receive, send)
            return
        body, read = await _bounded_body(receive, bytes_max)
        if body is None or nul_location(scope, body) is not None:
            await self.app(scope, replaying(read, receive), send)
            return
        hot, parameter = matched
        headers = _headers(scope)
        request_id = request_id_from(headers.get(b"x-request-id"))
        token = enter_request(request_id)
        try:
            answer = await self._answer(hot, parameter, scope, headers, body)
        except BaseException:
            leave_request(token)
            raise
        if answer is None:
            leave_request(token)
            await self.app(scope, replaying(read, receive), send)
            return
        scope["route"] = hot.route
        try:
            await self._send(answer, scope, request_id, started, send)
        finally:
            leave_request(token)

    async def _send(self, answer: Response, scope: Scope, request_id: str, started: float, send: Send) -> None:
        """Send ``answer`` with the request's id, then record the request as :class:`RequestObserver` does."""
        try:
            headers = [*answer.raw_headers, (b"x-request-id", request_id.encode("latin-1"))]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
            if answer.background is not None:
                await answer.background()
        finally:
            error_body = bytes(answer.body[:ERROR_BODY_BYTES_MAX]) if answer.status_code >= 400 else b""
            record_request(self._context.metrics, scope, request_id, answer.status_code, error_body, time.perf_counter() - started)

    def _match(self, path: str) -> tuple[_Hot, str | None] | None:
        exact = self._exact.get(path)
        if exact is not None:
            return exact, None
        for hot in self._templated:
            assert hot.suffix is not None
            if path.startswith(hot.prefix) and path.endswith(hot.suffix):
                parameter = path[len(hot.prefix) : len(path) - len(hot.suffix)]
                if parameter and "/" not in parameter and len(parameter) <= limits.IDENTIFIER_CHARS_MAX:
                    return hot, parameter
        return None

    async def _answer(self, hot: _Hot, parameter: str | None, scope: Scope, headers: dict[bytes, str], body: bytes) -> Response | None:
        """The answer, or None when the request is not the plain case and the framework's route must take it."""
        secret = bearer_secret(headers.get(b"authorization"))
        access = self._context.engine.authenticate_from_memory(secret)
        if access is None:
            return None  # the keys must be read again: the framework's route sends that read to a thread
        try:
            allowed_actor(access, hot.role, presented=secret is not None, open_without_keys=self._context.open_without_keys)
        except KopekError as refused:
            return error_response(refused)
        key = headers.get(b"idempotency-key")
        if key is not None and not 1 <= len(key) <= limits.IDEMPOTENCY_KEY_CHARS_MAX:
            return None
        document = _body_model(hot.endpoint, headers.get(b"content-type"), body)
        if document is _DECLINED:
            return None
        try:
            return await self._context.blocking.run(hot.endpoint.answer, self._context, document, parameter, key)
        except KopekError as error:
            return error_response(error)
        except Exception:
            return fault_answer(scope)


_DECLINED = object()


_READ_HEADERS = (b"authorization", b"content-type", b"idempotency-key", b"x-request-id")


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers a hot route reads, each at its first occurrence (as the framework and the middlewares read a single
    header)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _bounded_body(receive: Receive, bytes_max: int) -> tuple[bytes | None, list[Message]]:
    """The whole body and the messages it came in; no body once it grows past ``bytes_max`` or another message comes
    (a disconnect), and then the messages read so far, to hand on."""
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None, read
        size += len(message.get("body", b""))
        if size > bytes_max:
            return None, read
        if not message.get("more_body", False):
            return b"".join(part.get("body", b"") for part in read), read


def _body_model(endpoint: HotEndpoint, content_type: str | None, body: bytes) -> Any:
    """The body validated into the endpoint's model (None for an absent optional body), or ``_DECLINED``."""
    if not body:
        return _DECLINED if endpoint.body_required else None
    if content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
        return _DECLINED
    try:
        return endpoint.body.model_validate(parse_exact_json(body))
    except (json.JSONDecodeError, ValidationError):
        return _DECLINED

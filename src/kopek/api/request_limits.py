"""The bound on request bodies, enforced while reading them.

A declared ``Content-Length`` above the bound is refused before anything is read,
and a body without one (or lying about it) is read with a cap: the request is
refused as soon as one byte too many arrives, so no request makes the server
hold more than the bound in memory.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from kopek import limits
from kopek.api.errors import error_response
from kopek.api.request_text import replaying, whole_message
from kopek.errors import Code, InvalidError

BodyBound = Callable[[Scope], int]
"""The largest body, in bytes, accepted for a request (given its ASGI scope)."""


def body_bytes_max(scope: Scope) -> int:
    """A catalog document may be as large as a catalog file, a restore as a batch of contract states; every other body is a request."""
    if scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == "/v1/catalog":
        return limits.CATALOG_BYTES_MAX
    if scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == "/v1/contract-states:restore":
        return limits.CONTRACT_STATES_BODY_BYTES_MAX
    return limits.REQUEST_BODY_BYTES_MAX


def _too_large(bytes_max: int) -> InvalidError:
    return InvalidError(code=Code.REQUEST_TOO_LARGE, message=f"the request body is larger than {bytes_max} bytes")


def declared_length(scope: Scope) -> int | None:
    """The first ``Content-Length`` header's value; None without one, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


class BodySizeLimit:
    """ASGI middleware: read the whole body with a cap, then hand it to the app."""

    def __init__(self, app: ASGIApp, *, bound: BodyBound = body_bytes_max) -> None:
        self.app = app
        self.bound = bound

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bytes_max = self.bound(scope)
        declared = declared_length(scope)
        if declared == -1:
            malformed = InvalidError(code=Code.REQUEST_MALFORMED, message="the Content-Length header is not a number")
            await error_response(malformed)(scope, receive, send)
            return
        if declared is not None and declared > bytes_max:
            await error_response(_too_large(bytes_max))(scope, receive, send)
            return
        try:
            body = await _read_capped(receive, bytes_max)
        except _ClientGone:
            return
        if body is None:
            await error_response(_too_large(bytes_max))(scope, receive, send)
            return
        await self.app(scope, replaying([whole_message(body)], receive), send)


class _ClientGone(Exception):
    """The client disconnected before sending its whole body: there is no one to answer."""


async def _read_capped(receive: Receive, bytes_max: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``bytes_max``."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > bytes_max:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)

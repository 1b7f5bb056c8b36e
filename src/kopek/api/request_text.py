"""No NUL character in any text a request carries: path, query, headers or body.

PostgreSQL cannot store U+0000 in text, and no id, filter, key or property of kopek
needs it, so one rule at the edge refuses it everywhere, before any route runs:
``INVALID``/``request_invalid`` (422), the detail naming where it was found
(``["path"]``, ``["query", name]``, ``["header", name]`` or the path into the JSON body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kopek.api.errors import error_response
from kopek.errors import Code, ErrorDetail, InvalidError

NUL = "\x00"
NUL_DETAIL_CODE = "nul_character"

# A JSON escape of U+0000 is ``\u0000`` after an even number of backslashes (``\\`` is an
# escaped backslash, so ``\\u0000`` is the text backslash-u0000, not a NUL character).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

Location = tuple[str | int, ...]


def nul_location(scope: Scope, body: bytes) -> Location | None:
    """Where the request holds a NUL character first; None when it holds none."""
    if NUL in scope.get("path", ""):
        return ("path",)
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in unquote_to_bytes(query):
        names = [name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if NUL in name + value]
        return ("query", names[0] if names else "")
    for name, value in scope.get("headers", ()):
        if b"\x00" in name + value:
            return ("header", name.decode("latin-1").lower())
    # The search for an escaped NUL only where its text occurs at all: a plain search is several times cheaper.
    if b"\x00" in body or (b"\\u0000" in body and _ESCAPED_NUL.search(body)):
        return ("body", *_body_location(body))
    return None


def _body_location(body: bytes) -> Location:
    try:
        document = json.loads(body)
    except ValueError:
        return ()
    return next(_nul_paths(document, ()), ())


def _nul_paths(value: Any, at: Location) -> Iterator[Location]:
    if isinstance(value, str) and NUL in value:
        yield at
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ((*at, key),) if NUL in key else _nul_paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*at, index))


def refusal(location: Location) -> InvalidError:
    where = ".".join(str(part) for part in location)
    message = f"{where}: text may not hold a NUL character (U+0000)"
    return InvalidError(code=Code.REQUEST_INVALID, message=message, details=(ErrorDetail(message, location, NUL_DETAIL_CODE),))


class NulCharacterRefusal:
    """ASGI middleware: answer 422 to a request holding a NUL character anywhere.

    Runs inside :class:`~kopek.api.request_limits.BodySizeLimit`, so the body it reads
    is bounded; it hands the same body on to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = await whole_body(receive)
        location = nul_location(scope, body)
        if location is not None:
            await error_response(refusal(location))(scope, receive, send)
            return
        await self.app(scope, replaying([whole_message(body), *more], receive), send)


async def whole_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The body, and any other message met while reading it (a disconnect), to hand on."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def whole_message(body: bytes) -> Message:
    """The message of a whole body, read already."""
    return {"type": "http.request", "body": body, "more_body": False}


def replaying(read: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields the messages already read, in order (a whole body read as one, the messages of a body
    as they came, a disconnect met while reading), then waits on the client."""
    waiting = list(read)

    async def replay() -> Message:
        if waiting:
            return waiting.pop(0)
        return await receive()

    return replay

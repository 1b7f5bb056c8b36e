"""Reading JSON request bodies without binary floats.

Every route of the API reads its body through :class:`ExactJsonRoute`: a JSON number
with a fraction or an exponent becomes a :class:`~decimal.Decimal` straight from its
text, so ``0.1`` is exactly one tenth and no amount or quantity ever passes through a
Python ``float``. ``NaN`` and ``Infinity`` are refused as malformed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_exact_json(body: bytes) -> Any:
    """Parse ``body`` as JSON, numbers with a fraction as Decimal; faults raise JSONDecodeError."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not UTF-8 text", "", exc.start) from exc
    except ValueError as exc:
        # NaN, Infinity and integers too long to convert are unreadable numbers, not a crash.
        raise json.JSONDecodeError("a number is NaN, Infinity or has too many digits", "", 0) from exc


class ExactJsonRequest(Request):
    """A request whose :meth:`json` reads numbers exactly."""

    async def json(self) -> Any:
        if not hasattr(self, "_exact_json"):
            self._exact_json = parse_exact_json(await self.body())
        return self._exact_json


class ExactJsonRoute(APIRoute):
    """A FastAPI route that parses its JSON body with :func:`parse_exact_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact_handler

"""The one error shape of the HTTP API, and the handlers that turn every failure into it.

Every failure answers ``{category, reason, code, message, details}``: a
:class:`~kopek.errors.KopekError` by its category (:func:`kopek.errors.http_status`),
request validation as ``INVALID``/``request_invalid`` (422), unreadable JSON as
``INVALID``/``request_malformed`` (400), an unknown route as ``DOES_NOT_EXIST`` (404)
and anything unexpected as ``ILLEGAL_SYSTEM_STATE``/``unexpected_fault`` (500), whose
message tells nothing about the fault itself (it is logged instead).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kopek.api.observing import current_request_id
from kopek.charging.results import NotificationView
from kopek.errors import (
    Category,
    Code,
    DoesNotExistError,
    ErrorDetail,
    IllegalSystemStateError,
    InvalidError,
    KopekError,
    Reason,
    http_status,
)

logger = logging.getLogger("kopek.api")

RETRY_AFTER_SECONDS_DEFAULT = 1
"""Retry-After for a TEMPORARY_ILLEGAL_STATE error that does not say how long to wait."""

VALIDATION_MESSAGE_FAULTS_MAX = 5
"""How many validation faults the message spells out; ``details`` lists all of them."""


class ErrorDetailBody(BaseModel):
    """One precise fault: where (a path into the request) and what."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "property 'duration': 'abc' is not a decimal number",
                    "location": ["properties", "duration"],
                    "code": "property_invalid",
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    message: str
    """What is wrong there."""
    location: list[str | int] = Field(description="Path into the request, e.g. ['body', 'item', 'properties', 'duration'].")
    code: str | None = Field(default=None, description="A kopek code or the validator's fault type.")


class ErrorCauseBody(BaseModel):
    """An error below the one answered: what caused it (an entry of its error stack)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "ALREADY_EXISTS",
                    "reason": None,
                    "code": "already_exists",
                    "message": "contract 'dave-contract' already exists",
                }
            ]
        },
        frozen=True,
    )

    category: Category = Field(description="The cause's category.")
    reason: Reason | None = Field(description="The cause's reason, on a business refusal.")
    code: Code = Field(description="The cause's stable code; see docs/errors.md.")
    message: str = Field(description="For people.")


class ErrorBody(BaseModel):
    """The one shape of every failure of the HTTP API."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "ALREADY_EXISTS",
                    "reason": None,
                    "code": "already_exists",
                    "message": "the master data was not loaded, nothing was created: contracts[0] (dave-contract) was refused",
                    "details": [],
                    "causes": [
                        {
                            "category": "ALREADY_EXISTS",
                            "reason": None,
                            "code": "already_exists",
                            "message": "contract 'dave-contract' already exists",
                        }
                    ],
                    "request_id": "94e2fe1cc26e474cb403e2f92abbc621",
                }
            ]
        },
        frozen=True,
    )

    category: Category = Field(description="What the client should do: fix the request, fix master data, retry later, ...")
    reason: Reason | None = Field(description="Present only on business refusals of a charge.")
    code: Code = Field(description="Stable, never renamed; see docs/errors.md.")
    message: str = Field(description="For people; may change between versions.")
    details: list[ErrorDetailBody] = Field(description="The precise faults, each with where it is (a path into the request).")
    causes: list[ErrorCauseBody] = Field(
        default=[], description="The errors below this one, outermost first (the error stack); empty when it has no cause."
    )
    request_id: str | None = Field(
        default=None, description="The id of the request (its X-Request-Id header, or the one kopek gave it): quote it to the operators."
    )
    notifications: list[NotificationView] | None = Field(
        default=None,
        description="Only on a refused charge whose options.notifications_on_error is set: the notifications the refusal raised.",
    )


_STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "INVALID: the body is not valid JSON or is larger than allowed (request_malformed, request_too_large).",
    401: "ILLEGAL_STATE / NOT_AUTHORIZED: API keys are in use and the request has none, or an unknown or revoked one.",
    403: "ILLEGAL_STATE / NOT_AUTHORIZED: the API key's role does not allow this request.",
    404: "PREREQUISITE_MISSING or DOES_NOT_EXIST: something the request needs or names is missing.",
    409: "ALREADY_EXISTS or ILLEGAL_STATE: the id is taken, or master data refuses the operation.",
    422: "INVALID, INVALID_CONFIGURATION or INCOMPATIBLE_CONFIGURATION: a field is wrong or out of bounds, or the catalog cannot price it.",
    500: "ILLEGAL_SYSTEM_STATE: an unexpected fault; it is logged, the message tells nothing about it.",
    503: "TEMPORARY_ILLEGAL_STATE: retry after the number of seconds in Retry-After.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route: the error model for ``statuses``, 400 and 500."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted({400, 401, 403, 500, *statuses}):
        response: dict[str, Any] = {"model": ErrorBody, "description": _STATUS_DESCRIPTIONS[status]}
        if status == 503:
            response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
        documented[status] = response
    return documented


def error_body(error: KopekError, *, notifications: list[NotificationView] | None = None) -> dict[str, Any]:
    """The JSON body of ``error``: its cause chain, the request's id, and the charge's notifications when they were asked for."""
    body = error.as_dict()
    body["request_id"] = current_request_id()
    if notifications is not None:
        body["notifications"] = [notification.model_dump(mode="json") for notification in notifications]
    return body


def error_response(
    error: KopekError,
    *,
    notifications: list[NotificationView] | None = None,
    status_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``error`` as an HTTP response; a TEMPORARY_ILLEGAL_STATE carries ``Retry-After``."""
    headers = dict(headers or {})
    if error.category is Category.TEMPORARY_ILLEGAL_STATE:
        headers["Retry-After"] = str(error.retry_after_seconds or RETRY_AFTER_SECONDS_DEFAULT)
    if http_status(error) == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(error, notifications=notifications), status_code=status_code or http_status(error), headers=headers)


def unexpected_fault() -> IllegalSystemStateError:
    return IllegalSystemStateError(code=Code.UNEXPECTED_FAULT, message="an unexpected fault occurred; it has been logged")


async def _kopek_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KopekError)
    return error_response(error)


def _malformed(message: str) -> InvalidError:
    return InvalidError(code=Code.REQUEST_MALFORMED, message=message, details=(ErrorDetail(message, ("body",), Code.REQUEST_MALFORMED),))


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    faults = list(error.errors())
    if any(fault.get("type") == "json_invalid" for fault in faults):
        reason = faults[0].get("ctx", {}).get("error", "JSON decode error")
        return error_response(_malformed(f"the request body is not valid JSON: {reason}"))
    if any(tuple(fault.get("loc", ())) == ("body",) and isinstance(fault.get("input"), bytes) for fault in faults):
        # The framework hands over raw bytes when the Content-Type does not say JSON.
        return error_response(_malformed("the request body must be JSON, sent with Content-Type: application/json"))
    details = tuple(ErrorDetail(str(fault.get("msg", "")), tuple(fault.get("loc", ())), str(fault.get("type", ""))) for fault in faults)
    spelled = "; ".join(
        f"{'.'.join(str(part) for part in detail.location)}: {detail.message}" for detail in details[:VALIDATION_MESSAGE_FAULTS_MAX]
    )
    more = f" (and {len(details) - VALIDATION_MESSAGE_FAULTS_MAX} more)" if len(details) > VALIDATION_MESSAGE_FAULTS_MAX else ""
    return error_response(InvalidError(code=Code.REQUEST_INVALID, message=f"the request is invalid: {spelled}{more}", details=details))


def _http_error_handler(routes: Sequence[APIRoute]) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """The handler of errors raised by the framework itself: unknown routes, wrong methods, unreadable bodies."""

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404:
            return error_response(DoesNotExistError(code=Code.NOT_FOUND, message=f"no resource at {request.url.path}"))
        if error.status_code == 405:
            # The router names only the methods of the first route matching the path; list them all.
            allowed = sorted(
                {method for route in routes if route.matches(request.scope)[0] is Match.PARTIAL for method in route.methods or ()}
            )
            refused = InvalidError(
                code=Code.REQUEST_INVALID, message=f"method {request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
            )
            return error_response(refused, status_code=405, headers={"Allow": ", ".join(allowed)})
        if error.status_code == 400:
            return error_response(InvalidError(code=Code.REQUEST_MALFORMED, message=f"the request cannot be read: {error.detail}"))
        if error.status_code >= 500:
            return error_response(unexpected_fault())
        return error_response(InvalidError(code=Code.REQUEST_INVALID, message=str(error.detail)), status_code=error.status_code)

    return http_error


def install_error_handlers(app: FastAPI, routes: Sequence[APIRoute]) -> None:
    """Make every failure of ``app``, whose routes are ``routes``, answer the one error shape."""
    app.add_exception_handler(KopekError, _kopek_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler(routes))


class FaultBarrier:
    """ASGI middleware: an unexpected exception becomes a logged 500 ``unexpected_fault``.

    Catching here rather than in an ``Exception`` handler keeps the fault from being
    raised again into the server after the answer was sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            answer = fault_answer(scope)
            if started:
                raise
            await answer(scope, receive, send)


def fault_answer(scope: Scope) -> JSONResponse:
    """Log the unexpected exception being handled, raised answering the request of ``scope``, and answer it: a 500
    ``unexpected_fault`` that tells the client nothing more."""
    logger.exception("unexpected fault answering %s %s", scope.get("method"), scope.get("path"))
    return error_response(unexpected_fault())

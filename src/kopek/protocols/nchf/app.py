"""``{apiRoot}/nchf-convergedcharging/v3``: the Nchf_ConvergedCharging service of TS 32.291, mounted in the
HTTP app that ``kopek serve`` runs (HTTP/1.1 and cleartext HTTP/2 on one port).

Its own small application: its OpenAPI document at ``.../v3/openapi.json``, and every refusal a
TS 29.571 ``ProblemDetails`` (``application/problem+json``) instead of kopek's error shape.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kopek.admin.api_keys import ApiKeyRole
from kopek.api.auth import bearer, check_access
from kopek.api.context import ApiContext
from kopek.api.exact_json import ExactJsonRoute
from kopek.errors import Category, Code, KopekError, http_status
from kopek.protocols.nchf import models
from kopek.protocols.nchf.charging_data import ChargingData

logger = logging.getLogger("kopek.protocols")

API_ROOT_PATH = "/nchf-convergedcharging/v3"
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 1

_DESCRIPTION = """
The Nchf_ConvergedCharging service (3GPP TS 32.291, API version 3) in front of kopek's charging
sessions: the charging data reference is a multiservice reservation, each rating group a session.
See docs/protocols.md.
"""


async def _authorized(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    await check_access(request, credentials, ApiKeyRole.CHARGING)


def nchf_app(context: ApiContext, charging_data: ChargingData) -> FastAPI:
    """The service over ``charging_data``; ``context`` is the enclosing app's (API keys, engine)."""
    app = FastAPI(
        title="Nchf_ConvergedCharging",
        version="3.1.0",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_authorized)],
    )
    app.state.kopek = context
    app.router.route_class = ExactJsonRoute
    problems: dict[int | str, dict[str, Any]] = {
        status: {"model": models.ProblemDetails, "description": description}
        for status, description in ((400, "Bad request"), (403, "Forbidden"), (404, "Not Found"), (500, "Internal error"), (503, "Busy"))
    }

    @app.post("/chargingdata", status_code=201, response_model=models.ChargingDataResponse, responses=problems)
    async def create_charging_data(body: models.ChargingDataRequest, request: Request) -> Any:
        reference, answer = await run_in_threadpool(charging_data.create, body)
        location = f"{request.url.scheme}://{request.url.netloc}{API_ROOT_PATH}/chargingdata/{reference}"
        return _json(answer, status=201, headers={"Location": location})

    @app.post("/chargingdata/{ChargingDataRef}/update", response_model=models.ChargingDataResponse, responses=problems)
    async def update_charging_data(ChargingDataRef: str, body: models.ChargingDataRequest) -> Any:
        return _json(await run_in_threadpool(charging_data.update, ChargingDataRef, body))

    @app.post("/chargingdata/{ChargingDataRef}/release", status_code=204, response_class=Response, responses=problems)
    async def release_charging_data(ChargingDataRef: str, body: models.ChargingDataRequest) -> Response:
        await run_in_threadpool(charging_data.release, ChargingDataRef, body)
        return Response(status_code=204)

    app.add_exception_handler(KopekError, _kopek_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    return app


def _json(body: models.ChargingDataResponse, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


def problem(status: int, cause: str, detail: str, invalid: list[models.InvalidParam] | None = None) -> JSONResponse:
    body = models.ProblemDetails(status=status, cause=cause, detail=detail, invalidParams=invalid or None)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _kopek_problem(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KopekError)
    if error.code is Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER:
        invalid = [models.InvalidParam(param="/invocationSequenceNumber", reason=error.message)]
        return problem(400, "MANDATORY_IE_INCORRECT", error.message, invalid)
    if error.code is Code.ACCESS_NOT_FOUND:
        return problem(404, "USER_UNKNOWN", error.message)
    if error.category is Category.DOES_NOT_EXIST:
        return problem(404, "CONTEXT_NOT_FOUND", error.message)
    if error.category is Category.TEMPORARY_ILLEGAL_STATE:
        return problem(503, "NF_CONGESTION", error.message)
    status = http_status(error)
    if status in (401, 403):
        return problem(status, "UNAUTHORIZED" if status == 401 else "FORBIDDEN", error.message)
    if error.category is Category.ILLEGAL_SYSTEM_STATE:
        return problem(500, "SYSTEM_FAILURE", "an unexpected fault occurred; it has been logged")
    return problem(400, "CHARGING_FAILED", error.message)


async def _validation_problem(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    faults = list(error.errors())
    if any(fault.get("type") == "json_invalid" for fault in faults) or any(tuple(fault.get("loc", ())) == ("body",) for fault in faults):
        return problem(400, "INVALID_MSG_FORMAT", "the body is not a JSON ChargingDataRequest")
    missing = any(fault.get("type") == "missing" for fault in faults)
    invalid = [
        models.InvalidParam(param="/" + "/".join(str(part) for part in fault.get("loc", ())[1:]), reason=str(fault.get("msg", "")))
        for fault in faults
    ]
    return problem(400, "MANDATORY_IE_MISSING" if missing else "MANDATORY_IE_INCORRECT", "the request does not follow the schema", invalid)


async def _http_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        return problem(404, "RESOURCE_URI_STRUCTURE_NOT_FOUND", f"no resource at {request.url.path}")
    if error.status_code == 405:
        return problem(405, "METHOD_NOT_ALLOWED", f"method {request.method} is not allowed on {request.url.path}")
    return problem(error.status_code, "INVALID_MSG_FORMAT" if error.status_code < 500 else "SYSTEM_FAILURE", str(error.detail))

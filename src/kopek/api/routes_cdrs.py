"""``/v1/cdrs``: import CDRs into the CDR store in bulk, read one stored CDR (see docs/batch.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kopek import limits
from kopek.api.context import Context, IdentifierPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.batch.cdr_import import ImportReport
from kopek.batch.cdr_views import CdrView
from kopek.domain.validation import Flag


class CdrImportRequest(BaseModel):
    """CDRs to store: each an object with ``id``, ``item_class``, ``consumption_date``, ``service_id``, ``user_id``, ``properties``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cdrs: list[dict[str, Any]] = Field(max_length=limits.BULK_RECORDS_PER_REQUEST_MAX)
    strict: Flag = Field(default=False, description="Refuse the whole request at the first refused CDR, storing none.")


async def import_cdrs(request: CdrImportRequest, context: Context) -> ImportReport:
    """Store CDRs as ``pending``. A malformed CDR or an id already stored is reported by its position (``line``, from 1)
    and the others are stored, unless ``strict``: then the first refusal answers its error and nothing is stored."""
    rows = [(line, cdr) for line, cdr in enumerate(request.cdrs, start=1)]
    return await run_in_threadpool(context.engine.import_cdrs, rows, strict=request.strict)


def read_cdr(cdr_id: IdentifierPath, context: Context) -> CdrView:
    """One stored CDR: its item, its status and, once rated, its operation or error."""
    return context.engine.cdr(cdr_id)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/cdrs", tags=["batch rating"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        import_cdrs,
        methods=["POST"],
        status_code=201,
        response_model=ImportReport,
        summary="Import CDRs in bulk",
        responses=error_responses(409, 422),
    )
    routes.add_api_route(
        "/{cdr_id}", read_cdr, methods=["GET"], response_model=CdrView, summary="Read a stored CDR", responses=error_responses(404, 422)
    )
    return routes

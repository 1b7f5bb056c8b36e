"""``/v1/cdrs``: import CDRs into the CDR store in bulk, read one stored CDR (see docs/batch.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kopek import limits
from kopek.admin.master_data import AwareDatetime
from kopek.api.context import AfterKeyQuery, Context, IdentifierPath, PageSizeQuery, filter_query
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.batch.cdr_import import ImportReport
from kopek.batch.cdr_views import CdrView
from kopek.domain.validation import Flag
from kopek.paging import page

PAGE_SIZE_DEFAULT = 100


class CdrImportRequest(BaseModel):
    """CDRs to store: each an object with ``id``, ``item_class``, ``consumption_date``, ``service_id``, ``user_id``, ``properties``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cdrs": [
                        {
                            "id": "cdr-0001",
                            "item_class": "voice_call",
                            "consumption_date": "2026-06-01T10:00:00+00:00",
                            "service_id": "mobile",
                            "user_id": "bob-msisdn",
                            "properties": {"duration": "75", "destination": "33123"},
                        },
                        {
                            "id": "cdr-0002",
                            "item_class": "voice_call",
                            "consumption_date": "2026-06-01T10:00:00+00:00",
                            "service_id": "mobile",
                            "user_id": "bob-msisdn",
                            "properties": {"duration": "30", "destination": "999123"},
                        },
                    ],
                    "strict": False,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    cdrs: list[dict[str, Any]] = Field(max_length=limits.BULK_RECORDS_PER_REQUEST_MAX)
    """CDRs, each {id, item_class, consumption_date, service_id, user_id, properties}."""
    strict: Flag = Field(default=False, description="Refuse the whole request at the first refused CDR, storing none.")


async def import_cdrs(request: CdrImportRequest, context: Context) -> ImportReport:
    """Store CDRs as ``pending``. A malformed CDR or an id already stored is reported by its position (``line``, from 1)
    and the others are stored, unless ``strict``: then the first refusal answers its error and nothing is stored."""
    rows = [(line, cdr) for line, cdr in enumerate(request.cdrs, start=1)]
    return await run_in_threadpool(context.engine.import_cdrs, rows, strict=request.strict)


class CdrStatus(StrEnum):
    PENDING = "pending"
    CHARGED = "charged"
    FAILED = "failed"
    SKIPPED = "skipped"


class CdrsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cdrs": [
                        {
                            "id": "cdr-0002",
                            "item_class": "voice_call",
                            "consumption_date": "2026-06-01T10:00:00Z",
                            "service_id": "mobile",
                            "user_id": "bob-msisdn",
                            "properties": {"destination": "999123", "duration": "30"},
                            "status": "failed",
                            "imported_at": "2026-06-01T12:00:00Z",
                            "job_id": "job-5e5709070149599dabd733b5e3f135ae",
                            "operation_id": None,
                            "error_category": "ILLEGAL_STATE",
                            "error_reason": "NOT_AUTHORIZED",
                            "error_code": "service_not_accessible",
                            "error_message": "premium numbers are barred",
                        }
                    ],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    cdrs: list[CdrView] = Field(description="In id order.")
    next_after_id: str | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_cdrs(
    context: Context,
    status: Annotated[CdrStatus | None, Query(description="Only CDRs in this status.")] = None,
    contract_id: Annotated[
        str | None, filter_query("Only this contract's CDRs: the contract a rating job resolved, or that the access selects.")
    ] = None,
    job_id: Annotated[str | None, filter_query("Only the CDRs of this rating job.")] = None,
    chunk_id: Annotated[
        str | None, filter_query("Only the CDRs of this chunk of a rating job (the chunk_id of an account operation).")
    ] = None,
    item_class: Annotated[str | None, filter_query("Only CDRs of this item class.")] = None,
    date_from: Annotated[
        AwareDatetime | None, Query(description="Only CDRs consumed at or after this instant (ISO 8601 with an offset).")
    ] = None,
    date_to: Annotated[AwareDatetime | None, Query(description="Only CDRs consumed before this instant.")] = None,
    after_id: AfterKeyQuery = "",
    limit: PageSizeQuery = PAGE_SIZE_DEFAULT,
) -> CdrsPage:
    """Stored CDRs with their status and, once rated, their operation or error, in id order; filters combine."""
    found, after = page(
        lambda cursor, size: context.engine.cdrs(
            status=status.value if status is not None else None,
            contract_id=contract_id,
            job_id=job_id,
            chunk_id=chunk_id,
            item_class=item_class,
            date_from=date_from,
            date_to=date_to,
            after_id=cursor,
            limit=size,
        ),
        after_id,
        limit,
        lambda view: view.id,
    )
    return CdrsPage(cdrs=found, next_after_id=after)


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
        "", list_cdrs, methods=["GET"], response_model=CdrsPage, summary="List stored CDRs", responses=error_responses(422)
    )
    routes.add_api_route(
        "/{cdr_id}", read_cdr, methods=["GET"], response_model=CdrView, summary="Read a stored CDR", responses=error_responses(404, 422)
    )
    return routes

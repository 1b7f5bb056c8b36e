"""``/v1/audit``: the audit log of administrative and money-creating operations, oldest first, a page at a time (admin role)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.admin.audit import AuditRecord
from kopek.admin.master_data import AwareDatetime
from kopek.api.context import AfterIdQuery, Context, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.store.audit_store import AuditFilter

AUDIT_PAGE_SIZE_DEFAULT = 100

FilterText = Annotated[str | None, Query(min_length=1, max_length=limits.AUDIT_TEXT_CHARS_MAX)]


class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    records: list[AuditRecord] = Field(description="Oldest first.")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_audit_records(
    context: Context,
    actor: FilterText = None,
    action: FilterText = None,
    target: FilterText = None,
    outcome: Annotated[Literal["succeeded", "refused"] | None, Query()] = None,
    since: Annotated[AwareDatetime | None, Query(description="Only records at or after this instant (ISO 8601 with an offset).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Only records at or before this instant.")] = None,
    after_id: AfterIdQuery = 0,
    limit: PageSizeQuery = AUDIT_PAGE_SIZE_DEFAULT,
) -> AuditPage:
    """Who did what to which target, when, and whether it succeeded; filters combine (all must match)."""
    chosen = AuditFilter(actor=actor, action=action, target=target, outcome=outcome, since=since, until=until)
    records = context.engine.audit_records(chosen, after_id=after_id, limit=limit)
    more = len(records) == limit and bool(context.engine.audit_records(chosen, after_id=records[-1].id, limit=1))
    return AuditPage(records=records, next_after_id=records[-1].id if more else None)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        list_audit_records,
        methods=["GET"],
        response_model=AuditPage,
        summary="List audit records",
        responses=error_responses(422),
    )
    return routes

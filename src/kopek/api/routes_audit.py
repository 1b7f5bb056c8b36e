"""``/v1/audit``: the audit log of administrative and money-creating operations, oldest first, a page at a time (admin role)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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


def _filter_text(description: str) -> Any:
    return Query(min_length=1, max_length=limits.AUDIT_TEXT_CHARS_MAX, description=description)


class AuditPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "id": 1,
                            "at": "2026-06-01T12:00:00Z",
                            "actor": "system",
                            "action": "catalog.load",
                            "target": "catalog/1",
                            "outcome": "succeeded",
                            "details": {"charge_plans": 1, "item_classes": 4, "source": "request"},
                        }
                    ],
                    "next_after_id": 1,
                }
            ]
        },
        frozen=True,
    )

    records: list[AuditRecord] = Field(description="Oldest first.")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_audit_records(
    context: Context,
    actor: Annotated[str | None, _filter_text("Only records of this actor, e.g. api-key:billing or cli:ops.")] = None,
    action: Annotated[str | None, _filter_text("Only records of this action, e.g. account.adjust.")] = None,
    target: Annotated[str | None, _filter_text("Only records of this target, e.g. account/alice-prepaid.")] = None,
    outcome: Annotated[Literal["succeeded", "refused"] | None, Query(description="Only records that succeeded, or were refused.")] = None,
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

"""``/v1/accesses``: which contract a (service id, user id) pair reaches, over which period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek.admin.master_data import AccessInput, AwareDatetime
from kopek.admin.views import AccessView
from kopek.api.auth import Actor
from kopek.api.context import AfterIdQuery, Context, PageSizeQuery, filter_query
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.paging import page

PAGE_SIZE_DEFAULT = 100


def create_access(record: AccessInput, context: Context, actor: Actor) -> AccessView:
    """Map a service id and user id to a contract; periods of one pair may not overlap. Audited."""
    return context.engine.create_access(record, actor=actor)


class AccessesPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accesses": [
                        {
                            "id": 3,
                            "service_id": "mobile",
                            "user_id": "carol-msisdn",
                            "contract_id": "carol-contract",
                            "valid_from": "2025-12-31T23:00:00Z",
                            "valid_to": None,
                        }
                    ],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    accesses: list[AccessView] = Field(description="In id order (the order they were created in).")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_accesses(
    context: Context,
    service_id: Annotated[str | None, filter_query("Only the accesses of this service id.")] = None,
    user_id: Annotated[str | None, filter_query("Only the accesses of this user id.")] = None,
    contract_id: Annotated[str | None, filter_query("Only the accesses to this contract.")] = None,
    valid_at: Annotated[AwareDatetime | None, Query(description="Only accesses valid at this instant (ISO 8601 with an offset).")] = None,
    after_id: AfterIdQuery = 0,
    limit: PageSizeQuery = PAGE_SIZE_DEFAULT,
) -> AccessesPage:
    """Accesses over all their periods, in id order: of a service id and user id, of a contract, valid at an instant;
    filters combine."""
    found, after = page(
        lambda cursor, size: context.engine.accesses(
            service_id, user_id, contract_id=contract_id, valid_at=valid_at, after_id=cursor, limit=size
        ),
        after_id,
        limit,
        lambda view: view.id,
    )
    return AccessesPage(accesses=found, next_after_id=after)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/accesses", tags=["accesses"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        create_access,
        methods=["POST"],
        status_code=201,
        response_model=AccessView,
        summary="Create an access",
        responses=error_responses(404, 409, 422),
    )
    routes.add_api_route(
        "",
        list_accesses,
        methods=["GET"],
        response_model=AccessesPage,
        summary="List accesses",
        responses=error_responses(422),
    )
    return routes

"""``/v1/accesses``: which contract a (service id, user id) pair reaches, over which period."""

from __future__ import annotations

from fastapi import APIRouter

from kopek.admin.master_data import AccessInput
from kopek.admin.views import AccessView
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute


def create_access(record: AccessInput, context: Context, actor: Actor) -> AccessView:
    """Map a service id and user id to a contract; periods of one pair may not overlap. Audited."""
    return context.engine.create_access(record, actor=actor)


def list_accesses(service_id: IdentifierQuery, user_id: IdentifierQuery, context: Context) -> list[AccessView]:
    """Every access of a service id and user id, over all periods."""
    return context.engine.accesses(service_id, user_id)


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
        response_model=list[AccessView],
        summary="List the accesses of a service id and user id",
        responses=error_responses(422),
    )
    return routes

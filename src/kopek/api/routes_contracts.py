"""``/v1/contracts``: create, read and update charging contracts."""

from __future__ import annotations

from fastapi import APIRouter

from kopek.admin.master_data import ContractInput, ContractUpdate
from kopek.admin.views import ContractView
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute


def create_contract(record: ContractInput, context: Context, actor: Actor) -> ContractView:
    """Create a contract: its validity, contract items (charge plans) and account roles. Audited."""
    return context.engine.create_contract(record, actor=actor)


def read_contract(contract_id: IdentifierPath, context: Context) -> ContractView:
    """A contract with its accesses and counters."""
    return context.engine.contract(contract_id)


def update_contract(contract_id: IdentifierPath, update: ContractUpdate, context: Context, actor: Actor) -> ContractView:
    """Change the end of validity (null: open-ended), status, items or roles; absent fields stay. Audited."""
    return context.engine.update_contract(contract_id, update, actor=actor)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/contracts", tags=["contracts"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        create_contract,
        methods=["POST"],
        status_code=201,
        response_model=ContractView,
        summary="Create a contract",
        responses=error_responses(404, 409, 422),
    )
    routes.add_api_route(
        "/{contract_id}",
        read_contract,
        methods=["GET"],
        response_model=ContractView,
        summary="Read a contract",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{contract_id}",
        update_contract,
        methods=["PATCH"],
        response_model=ContractView,
        summary="Update a contract",
        responses=error_responses(404, 422),
    )
    return routes

"""``/v1/contracts``: create, read and update charging contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek.admin.master_data import AwareDatetime, ContractInput, ContractUpdate
from kopek.admin.views import ContractSummary, ContractView
from kopek.api.auth import Actor
from kopek.api.context import AfterKeyQuery, Context, IdentifierPath, PageSizeQuery, filter_query
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.domain.master import ContractStatus
from kopek.paging import page

PAGE_SIZE_DEFAULT = 100


def create_contract(record: ContractInput, context: Context, actor: Actor) -> ContractView:
    """Create a contract: its validity, contract items (charge plans) and account roles. Audited."""
    return context.engine.create_contract(record, actor=actor)


class ContractsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contracts": [
                        {
                            "id": "alice-contract",
                            "subscriber_account_id": "alice",
                            "valid_from": "2026-01-01T00:00:00Z",
                            "valid_to": None,
                            "status": "active",
                            "parent_id": None,
                            "items": [{"id": "main", "charge_plan": "mobile"}],
                            "roles": {"payer": "alice-prepaid"},
                        }
                    ],
                    "next_after_id": "alice-contract",
                }
            ]
        },
        frozen=True,
    )

    contracts: list[ContractSummary] = Field(description="In id order; read one for its accesses and counters.")
    next_after_id: str | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_contracts(
    context: Context,
    subscriber_account_id: Annotated[str | None, filter_query("Only the contracts of this subscriber account.")] = None,
    status: Annotated[ContractStatus | None, Query(description="Only contracts in this status.")] = None,
    charge_plan: Annotated[str | None, filter_query("Only contracts with a contract item activating this charge plan.")] = None,
    account_id: Annotated[str | None, filter_query("Only contracts whose account roles name this account: what it pays for.")] = None,
    parent_id: Annotated[str | None, filter_query("Only the contracts linked to this parent contract.")] = None,
    valid_at: Annotated[AwareDatetime | None, Query(description="Only contracts valid at this instant (ISO 8601 with an offset).")] = None,
    after_id: AfterKeyQuery = "",
    limit: PageSizeQuery = PAGE_SIZE_DEFAULT,
) -> ContractsPage:
    """Contracts with their items and roles, in id order; filters combine."""
    found, after = page(
        lambda cursor, size: context.engine.contracts(
            subscriber_account_id=subscriber_account_id,
            status=status,
            charge_plan=charge_plan,
            account_id=account_id,
            parent_id=parent_id,
            valid_at=valid_at,
            after_id=cursor,
            limit=size,
        ),
        after_id,
        limit,
        lambda view: view.id,
    )
    return ContractsPage(contracts=found, next_after_id=after)


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
        "",
        list_contracts,
        methods=["GET"],
        response_model=ContractsPage,
        summary="List contracts",
        responses=error_responses(422),
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

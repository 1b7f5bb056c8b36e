"""``/v1/accounts``: balances, account operations and administrative adjustments."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from kopek.admin.master_data import AccountUpdate, AdjustmentInput
from kopek.admin.views import AccountOperationRecord
from kopek.api.auth import Actor
from kopek.api.context import AfterIdQuery, Context, IdentifierPath, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.charging.results import AccountView

OPERATIONS_PAGE_SIZE_DEFAULT = 100


class AccountOperationsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operations": [
                        {
                            "id": 1,
                            "account_id": "alice-prepaid",
                            "operation_id": None,
                            "kind": "opening",
                            "amount": "10.00",
                            "balance_after": "10.00",
                            "currency": "EUR",
                            "created_at": "2026-06-01T12:00:00Z",
                        },
                        {
                            "id": 2,
                            "account_id": "alice-prepaid",
                            "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                            "kind": "debit",
                            "amount": "-1.20",
                            "balance_after": "8.80",
                            "currency": "EUR",
                            "created_at": "2026-06-01T12:00:00Z",
                        },
                    ],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    operations: list[AccountOperationRecord] = Field(description="Oldest first.")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def read_account(account_id: IdentifierPath, context: Context) -> AccountView:
    """An account and its balance."""
    return context.engine.account(account_id)


def read_account_operations(
    account_id: IdentifierPath,
    context: Context,
    limit: PageSizeQuery = OPERATIONS_PAGE_SIZE_DEFAULT,
    after_id: AfterIdQuery = 0,
) -> AccountOperationsPage:
    """Every change of the balance, oldest first, a page at a time."""
    operations = context.engine.account_operations(account_id, limit=limit, after_id=after_id)
    full = len(operations) == limit
    more = full and bool(context.engine.account_operations(account_id, limit=1, after_id=operations[-1].id))
    return AccountOperationsPage(operations=operations, next_after_id=operations[-1].id if more else None)


def update_account(account_id: IdentifierPath, update: AccountUpdate, context: Context, actor: Actor) -> AccountView:
    """Change the account's own status: a blocked, locked or closed account refuses charges (a closed one refills too),
    whatever its subscriber account's status. Audited."""
    return context.engine.update_account(account_id, update, actor=actor)


def adjust_balance(account_id: IdentifierPath, adjustment: AdjustmentInput, context: Context, actor: Actor) -> AccountView:
    """Add an amount to the balance (a credit when positive); recorded as an operation and audited."""
    return context.engine.adjust_balance(account_id, adjustment, actor=actor)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "/{account_id}",
        read_account,
        methods=["GET"],
        response_model=AccountView,
        summary="Read an account's balance",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{account_id}",
        update_account,
        methods=["PATCH"],
        response_model=AccountView,
        summary="Update an account's status",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{account_id}/operations",
        read_account_operations,
        methods=["GET"],
        response_model=AccountOperationsPage,
        summary="List an account's operations",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{account_id}/adjustments",
        adjust_balance,
        methods=["POST"],
        status_code=201,
        response_model=AccountView,
        summary="Adjust an account's balance",
        responses=error_responses(404, 409, 422),
    )
    return routes

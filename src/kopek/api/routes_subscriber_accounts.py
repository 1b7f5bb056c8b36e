"""``/v1/subscriber-accounts``: create, read and update subscriber accounts, and open their accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek.admin.master_data import AccountInput, SubscriberAccountInput, SubscriberAccountUpdate
from kopek.admin.views import SubscriberAccountView
from kopek.api.auth import Actor
from kopek.api.context import AfterKeyQuery, Context, IdentifierPath, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.charging.results import AccountView
from kopek.domain.master import SubscriberAccountStatus
from kopek.paging import page
from kopek.schema_examples import example_of

PAGE_SIZE_DEFAULT = 100


def create_subscriber_account(record: SubscriberAccountInput, context: Context, actor: Actor) -> SubscriberAccountView:
    """Create a subscriber account with its accounts; an opening balance is recorded as an account operation. Audited."""
    return context.engine.create_subscriber_account(record, actor=actor)


class SubscriberAccountsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscriber_accounts": [example_of(SubscriberAccountView)],
                    "next_after_id": "alice",
                }
            ]
        },
        frozen=True,
    )

    subscriber_accounts: list[SubscriberAccountView] = Field(description="In id order.")
    next_after_id: str | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_subscriber_accounts(
    context: Context,
    status: Annotated[SubscriberAccountStatus | None, Query(description="Only subscriber accounts in this status.")] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="Only subscriber accounts in this currency.")] = None,
    after_id: AfterKeyQuery = "",
    limit: PageSizeQuery = PAGE_SIZE_DEFAULT,
) -> SubscriberAccountsPage:
    """Subscriber accounts with their accounts and balances and their contract ids, in id order; filters combine."""
    found, after = page(
        lambda cursor, size: context.engine.subscriber_accounts(status=status, currency=currency, after_id=cursor, limit=size),
        after_id,
        limit,
        lambda view: view.id,
    )
    return SubscriberAccountsPage(subscriber_accounts=found, next_after_id=after)


def read_subscriber_account(subscriber_account_id: IdentifierPath, context: Context) -> SubscriberAccountView:
    """A subscriber account, its accounts and the ids of its contracts."""
    return context.engine.subscriber_account(subscriber_account_id)


def update_subscriber_account(
    subscriber_account_id: IdentifierPath, update: SubscriberAccountUpdate, context: Context, actor: Actor
) -> SubscriberAccountView:
    """Change the status or name; a blocked, locked or closed subscriber account refuses charges. Audited."""
    return context.engine.update_subscriber_account(subscriber_account_id, update, actor=actor)


def add_account(subscriber_account_id: IdentifierPath, record: AccountInput, context: Context, actor: Actor) -> AccountView:
    """Open a prepaid or postpaid account, in the subscriber account's currency. Audited."""
    return context.engine.add_account(subscriber_account_id, record, actor=actor)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/subscriber-accounts", tags=["subscriber accounts"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        create_subscriber_account,
        methods=["POST"],
        status_code=201,
        response_model=SubscriberAccountView,
        summary="Create a subscriber account",
        responses=error_responses(409, 422),
    )
    routes.add_api_route(
        "",
        list_subscriber_accounts,
        methods=["GET"],
        response_model=SubscriberAccountsPage,
        summary="List subscriber accounts",
        responses=error_responses(422),
    )
    routes.add_api_route(
        "/{subscriber_account_id}",
        read_subscriber_account,
        methods=["GET"],
        response_model=SubscriberAccountView,
        summary="Read a subscriber account",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{subscriber_account_id}",
        update_subscriber_account,
        methods=["PATCH"],
        response_model=SubscriberAccountView,
        summary="Update a subscriber account's status or name",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{subscriber_account_id}/accounts",
        add_account,
        methods=["POST"],
        status_code=201,
        response_model=AccountView,
        summary="Open an account of a subscriber account",
        responses=error_responses(404, 409, 422),
    )
    return routes

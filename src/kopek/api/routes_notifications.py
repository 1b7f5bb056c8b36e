"""``/v1/notifications``: the stored business notifications, oldest first, a page at a time (docs/notifications.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.context import AfterIdQuery, Context, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.notify.documents import DATA_FIELDS, ListedNotification
from kopek.rating.outcome import NotificationKind

NOTIFICATIONS_PAGE_SIZE_DEFAULT = 100


class NotificationsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "notifications": [
                        {
                            "id": 1,
                            "kind": "allowance_exhausted",
                            "message": "allowance 'free_seconds' is used up",
                            "data": {"counter": "free_seconds"},
                            "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                            "contract_id": "alice-contract",
                            "subscriber_account_id": "alice",
                            "created_at": "2026-06-01T12:00:00Z",
                            "published_at": None,
                        },
                        {
                            "id": 2,
                            "kind": "allowance_exhausted",
                            "message": "allowance 'free_seconds' is used up",
                            "data": {"counter": "free_seconds"},
                            "operation_id": "e04a3baa7144ba6d3b1fdcf7a332da0c",
                            "contract_id": "bob-contract",
                            "subscriber_account_id": "bob",
                            "created_at": "2026-06-01T12:00:00Z",
                            "published_at": None,
                        },
                    ],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    notifications: list[ListedNotification] = Field(description="Oldest first.")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_notifications(
    context: Context,
    contract_id: Annotated[
        str | None, Query(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description="Only this contract's notifications.")
    ] = None,
    kind: Annotated[NotificationKind | None, Query(description="Only notifications of this kind.")] = None,
    after_id: AfterIdQuery = 0,
    limit: PageSizeQuery = NOTIFICATIONS_PAGE_SIZE_DEFAULT,
) -> NotificationsPage:
    engine = context.engine
    found = engine.notifications(contract_id=contract_id, kind=kind, after_id=after_id, limit=limit)
    more = len(found) == limit and bool(engine.notifications(contract_id=contract_id, kind=kind, after_id=found[-1].id, limit=1))
    return NotificationsPage(notifications=found, next_after_id=found[-1].id if more else None)


def _data_table() -> str:
    lines = ["What `data` holds for each kind:", ""]
    for kind, fields in DATA_FIELDS.items():
        keys = ", ".join(f"`{key}` ({meaning})" for key, meaning in fields.items()) or "no fixed keys"
        lines.append(f"- `{kind.value}`: {keys}")
    return "\n".join(lines)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/notifications", tags=["notifications"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        list_notifications,
        methods=["GET"],
        response_model=NotificationsPage,
        summary="List notifications",
        description=(
            "The business notifications that charging stored (thresholds crossed, caps reached, no access, "
            "low balances, fees, ...), oldest first; the same documents are published to NATS JetStream "
            "when the server runs with a NATS URL.\n\n" + _data_table()
        ),
        responses=error_responses(422),
    )
    return routes

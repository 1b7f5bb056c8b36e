"""The published and listed form of a notification, and what ``data`` holds for each kind.

Rating, charging and the fee and refill runs create notifications as
:class:`kopek.rating.outcome.Notification` values; once stored, each one has an id and is
read, listed and published as a :class:`NotificationDocument`. ``data`` carries strings
only (decimals as exact text), its keys fixed per kind by :data:`DATA_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from kopek.rating.outcome import NotificationKind

DATA_FIELDS: Final[Mapping[NotificationKind, Mapping[str, str]]] = {
    NotificationKind.NO_ACCESS: {},
    NotificationKind.ALLOWANCE_EXHAUSTED: {"counter": "the allowance's counter, now at zero"},
    NotificationKind.USAGE_ABOVE_GRANT: {
        "session_id": "the charging session",
        "used_quantity": "the usage reported, in the item's quantity unit",
        "granted_quantity": "the grant it went beyond",
    },
    NotificationKind.CAP_REACHED: {"counter": "the counter that keeps the cap's period", "maximum": "the cap's amount"},
    NotificationKind.THRESHOLD_CROSSED: {
        "counter": "the counter's name",
        "value": "the threshold's value, in the counter's unit",
        "direction": "up or down: the way the counter crossed it",
    },
    NotificationKind.LOW_BALANCE: {
        "account_id": "the prepaid account",
        "subscriber_account_id": "the subscriber account holding it",
        "threshold": "its low balance threshold",
        "balance": "its balance after the charge, below the threshold",
        "currency": "the account's currency",
    },
    NotificationKind.FEE_APPLIED: {
        "contract_item_id": "the contract item whose charge plan has the fee",
        "charge_plan": "that charge plan",
        "fee": "the fee's name",
        "period_start": "the start of the period charged (ISO 8601)",
        "amount": "the amount charged",
        "currency": "its currency",
        "account_id": "the account that paid it",
        "prorated": "true when the period was charged in part",
    },
    NotificationKind.REFILL_APPLIED: {
        "refill_plan": "the refill plan",
        "account_id": "the prepaid account credited",
        "amount": "the amount credited",
        "currency": "its currency",
        "bonus_counter": "only with bonus units: the counter they went to",
        "bonus_units": "only with bonus units: how many",
        "bonus_expires_at": "only with bonus units: when they lapse (ISO 8601)",
    },
}
"""The keys of ``data`` for each kind, with their meaning (``no_access`` carries none: its
``message`` is the catalog's). Consumers should ignore keys they do not know: a later
version may add some, never remove or rename one."""


class NotificationDocument(BaseModel):
    """One stored business notification, as listed over HTTP and published to NATS."""

    model_config = ConfigDict(use_attribute_docstrings=True, frozen=True, extra="forbid")

    id: int = Field(description="Increases with every stored notification; the paging key.")
    kind: NotificationKind
    """What happened: threshold_crossed, low_balance, no_access, fee_applied, refill_applied, ..."""
    message: str = Field(description="A sentence for people.")
    data: dict[str, str] = Field(description="Keys fixed per kind (docs/notifications.md); values are text, decimals exact.")
    operation_id: str | None = Field(description="The charging operation that raised it; none for one raised outside a charge.")
    contract_id: str | None
    """The contract it concerns; null when none."""
    subscriber_account_id: str | None = Field(description="The subscriber account holding the contract.")
    created_at: datetime
    """When it was stored."""


class ListedNotification(NotificationDocument):
    """A notification as listed: its document and when its publication was acknowledged."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
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
                }
            ]
        }
    )

    published_at: datetime | None = Field(description="When NATS acknowledged it; none while it waits in the outbox.")


def listed_notification(row: Mapping[str, Any]) -> ListedNotification:
    """A stored notification row (with the subscriber account of its contract) as listed."""
    return ListedNotification.model_validate({name: row[name] for name in ListedNotification.model_fields})


def published_document(listed: ListedNotification) -> NotificationDocument:
    """The document that is published: the listed form without its publication state."""
    return NotificationDocument.model_validate(listed.model_dump(exclude={"published_at"}))

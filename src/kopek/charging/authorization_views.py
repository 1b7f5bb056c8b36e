"""What an authorization looks like to a client: commands in, views out.

An authorization is an offline request that only reserves: the amount of one chargeable item
is held against its payer accounts until it is captured (charged), released, or it expires.
Quantities are in the item class's quantity unit; amounts in the plan's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.charging.results import ChargeableItemInfo, ChargeResult
from kopek.charging.session_views import ReservationView, Resolution, SessionStatus
from kopek.domain.catalog import Dec, Quantity
from kopek.domain.item import ChargeableItem
from kopek.schema_examples import example_of


class AuthorizationStatus(StrEnum):
    """Where an authorization stands: ``reserved`` (live), or resolved: ``captured``, ``released`` or ``expired``
    (by the clean-up, with its default resolution)."""

    RESERVED = "reserved"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


STATUS_OF_SESSION = {
    SessionStatus.ACTIVE: AuthorizationStatus.RESERVED,
    SessionStatus.STOPPED: AuthorizationStatus.CAPTURED,
    SessionStatus.CANCELLED: AuthorizationStatus.RELEASED,
    SessionStatus.EXPIRED: AuthorizationStatus.EXPIRED,
}
"""An authorization is kept as a session of its own kind; each session status reads as one of an authorization."""


@dataclass(frozen=True, slots=True)
class Authorize:
    """Reserve the amount of ``item`` for ``ttl_ms``; ``reservation_id`` names the authorization (``None``: one is
    made). When it expires unresolved, the clean-up applies ``default_resolution``: ``cancelled`` releases it,
    ``confirmed`` captures the item as authorized."""

    item: ChargeableItem
    ttl_ms: int
    reservation_id: str | None = None
    default_resolution: Resolution = Resolution.CANCELLED
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    """Charge the authorized item, with ``quantity`` as its final quantity when given, and end the authorization."""

    reservation_id: str
    quantity: object | None = None
    idempotency_key: str | None = None


class AuthorizationView(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={
            "examples": [
                {
                    "reservation_id": "order-0001",
                    "status": "reserved",
                    "default_resolution": "cancelled",
                    "subscriber_account_id": "alice",
                    "contract_id": "alice-contract",
                    "item": {
                        "item_class": "voice_call",
                        "consumption_date": "2026-06-01T10:00:00Z",
                        "service_id": "mobile",
                        "user_id": "alice-msisdn",
                        "properties": {"duration": "300", "destination": "33123"},
                    },
                    "authorized_quantity": "300",
                    "authorized_amount": "2.40",
                    "reserved_amount": "2.40",
                    "captured_quantity": "0",
                    "charged_amount": "0",
                    "currency": "EUR",
                    "reservations": [
                        {"account_id": "alice-prepaid", "amount": "2.40", "currency": "EUR", "expires_at": "2026-06-01T12:10:00Z"}
                    ],
                    "ttl_ms": 600000,
                    "created_at": "2026-06-01T12:00:00Z",
                    "updated_at": "2026-06-01T12:00:00Z",
                    "expires_at": "2026-06-01T12:10:00Z",
                }
            ]
        },
    )

    reservation_id: str = Field(description="The authorization's id: capture or release it by this id.")
    status: AuthorizationStatus = Field(description="reserved (live), captured, released or expired.")
    default_resolution: Resolution = Field(
        description="What the expiry clean-up does with it: cancelled (release) or confirmed (capture as authorized)."
    )
    subscriber_account_id: str
    """The subscriber account of the contract."""
    contract_id: str
    """The contract the item's access selected."""
    item: ChargeableItemInfo = Field(description="The authorized item, as it was sent (its quantity is the authorized quantity).")
    authorized_quantity: Quantity = Field(description="The item's quantity when authorized; 0 for a class without a quantity.")
    authorized_amount: Dec = Field(description="The amount reserved when authorized, over all paying accounts.")
    reserved_amount: Dec = Field(description="What is reserved now: the authorized amount while reserved, 0 once resolved.")
    captured_quantity: Quantity = Field(description="The quantity charged by the capture; 0 until captured.")
    charged_amount: Dec = Field(description="The amount charged by the capture; 0 until captured.")
    currency: str = Field(description="The currency of the amounts (ISO 4217).")
    reservations: list[ReservationView] = Field(description="The live reservation per paying account; empty once resolved.")
    ttl_ms: int = Field(description="How long the reservation is held, in milliseconds.")
    created_at: datetime = Field(description="When it was authorized.")
    updated_at: datetime = Field(description="When it was last changed (resolved).")
    expires_at: datetime = Field(description="When the clean-up resolves it, if nothing did before.")


class AuthorizationResult(BaseModel):
    """The answer of an authorize, capture or release call: the authorization after it, and the charge of a capture."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={
            "examples": [
                {
                    "authorization": example_of(AuthorizationView),
                    "charge": None,
                    "replayed": False,
                }
            ]
        },
    )

    authorization: AuthorizationView
    """The authorization after the call."""
    charge: ChargeResult | None = Field(default=None, description="The charge a capture made (every section); null otherwise.")
    replayed: bool = Field(default=False, description="True when this is the first answer of a call retried with its idempotency key.")


def item_info(row: Mapping[str, Any], properties: Mapping[str, Any]) -> ChargeableItemInfo:
    """The authorized item of a stored authorization row, with its stored ``properties``."""
    return ChargeableItemInfo(
        item_class=row["item_class"],
        consumption_date=row["consumption_date"],
        service_id=row["service_id"],
        user_id=row["user_id"],
        properties=dict(properties),
    )

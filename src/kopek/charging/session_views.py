"""What a charging session looks like to a client: commands in, views out.

Quantities are in the item class's quantity unit; amounts in the plan's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.charging.results import ChargedItemView, ChargeResult, NotificationView
from kopek.domain.catalog import Dec, ExactNumber, Quantity
from kopek.schema_examples import example_of


class Resolution(StrEnum):
    """What the clean-up does with a session that expired: charge its last grant as used, or release it."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class StartSession:
    """Open a session and reserve its first grant.

    ``ttl_ms``: how long the grant stays reserved without news. ``requested_quantity``:
    ``None`` asks for as much as the money allows (up to ``SESSION_QUOTA_STEPS_MAX`` grid steps).
    ``reservation_id``: shared by the sessions of one multiservice session; ``None`` means the session id.
    """

    session_id: str
    item_class: str
    service_id: str
    user_id: str
    consumption_date: datetime
    ttl_ms: int
    quantity_property: str
    properties: Mapping[str, object] = field(default_factory=dict)
    requested_quantity: object | None = None
    default_resolution: Resolution = Resolution.CONFIRMED
    reservation_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateSession:
    """Report ``used_quantity`` consumed since the last grant; charge it and reserve the next grant."""

    session_id: str
    used_quantity: object
    requested_quantity: object | None = None
    idempotency_key: str | None = None
    """A retry with the same key returns the first answer and charges nothing more."""
    consumption_date: datetime | None = None
    """When the usage reported began; ``None``: the session's start, moved on by the time already used for timed usage."""


@dataclass(frozen=True, slots=True)
class StopSession:
    """Report the final ``used_quantity``, charge it, release the rest and end the session."""

    session_id: str
    used_quantity: object = Decimal(0)
    idempotency_key: str | None = None
    consumption_date: datetime | None = None
    """When the usage reported began (see :class:`UpdateSession`)."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReservationView(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": "alice-prepaid", "amount": "3.00", "currency": "EUR", "expires_at": "2026-06-01T12:01:00Z"}]
        },
        use_attribute_docstrings=True,
    )

    account_id: str
    """The account the reservation is held against."""
    amount: Dec = Field(description="Held against the account until the session is updated, stopped, cancelled or cleaned up.")
    currency: str = Field(description="The account's currency (ISO 4217).")
    expires_at: datetime
    """When the grant lapses unless the session reports."""


class CounterImpact(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "contract_item",
                    "contract_id": "alice-contract",
                    "contract_item_id": "main",
                    "namespace": None,
                    "counter": "free_seconds",
                    "unit": "seconds",
                    "delta": "60",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    scope: str = Field(
        description="contract, contract_item, activation, shared or transient; a linked contract that uses its parent's "
        "counter shows the parent's contract id."
    )
    contract_id: str = Field(description="The contract that keeps the counter; empty for a shared counter.")
    contract_item_id: str | None = Field(description="The contract item or activation of the counter; none for contract and shared scope.")
    namespace: str | None = Field(default=None, description="The namespace of a shared counter.")
    counter: str
    """The counter's name."""
    unit: str
    """The counter's unit."""
    delta: ExactNumber = Field(description="How much the session moved the counter, in its unit, exactly (n/d when not a finite decimal).")


class BalanceImpact(_View):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"account_id": "alice-prepaid", "amount": "-1.20", "currency": "EUR"}]},
        use_attribute_docstrings=True,
    )

    account_id: str
    """The account the session's charges moved."""
    amount: Dec = Field(description="Added to the balance by the session's charges (negative for a prepaid debit).")
    currency: str
    """ISO 4217 currency code, e.g. EUR."""


class SessionChargedItem(ChargedItemView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [example_of(ChargedItemView) | {"quantity": "120", "operation_id": "0521a187c0d5c439ad858e9e444d51b6"}]
        },
        use_attribute_docstrings=True,
    )

    operation_id: str
    """The charging operation of the session step that charged it."""


class SessionImpacts(_View):
    """What a session changed: counters by scope, balances, transient counters (none yet) and its charged items."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counters": [],
                    "balances": [{"account_id": "alice-prepaid", "amount": "-2.40", "currency": "EUR"}],
                    "held_counters": [],
                    "charged_items": [
                        example_of(SessionChargedItem),
                        example_of(SessionChargedItem) | {"quantity": "90", "operation_id": "f236f9f371ab6ea66fdd05e5b8b7a2ad"},
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    counters: list[CounterImpact] = []
    """Each counter the session's charges moved, by scope."""
    balances: list[BalanceImpact] = []
    """Each account the session's charges moved."""
    held_counters: list[CounterImpact] = Field(
        default=[], description="The counter moves the current grant holds (e.g. free units it was priced with), released when it ends."
    )
    charged_items: list[SessionChargedItem] = []
    """Every charged item of the session's charges."""


class SessionView(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "call-42",
                    "reservation_id": "call-42",
                    "subscriber_account_id": "alice",
                    "contract_id": "alice-contract",
                    "service_id": "mobile",
                    "user_id": "alice-msisdn",
                    "item_class": "voice_call",
                    "quantity_property": "duration",
                    "properties": {"destination": "33123"},
                    "status": "stopped",
                    "default_resolution": "confirmed",
                    "ttl_ms": 60000,
                    "started_at": "2026-06-01T12:00:00Z",
                    "updated_at": "2026-06-01T12:00:00Z",
                    "expires_at": "2026-06-01T12:01:00Z",
                    "consumption_date": "2026-06-01T10:00:00Z",
                    "granted_quantity": "0",
                    "used_quantity": "210",
                    "charged_amount": "2.40",
                    "reserved_amount": "0",
                    "currency": "EUR",
                    "reservations": [],
                    "impacts": example_of(SessionImpacts),
                    "version": 3,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    session_id: str
    """The network element's id of the session."""
    reservation_id: str
    """Shared by the sessions of one multiservice session."""
    subscriber_account_id: str
    """The subscriber account's id."""
    contract_id: str
    """The contract the access selected at the start."""
    service_id: str
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: str
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    item_class: str
    """A chargeable item class of the catalog, e.g. voice_call."""
    quantity_property: str
    """The item property the grants are in, e.g. duration."""
    properties: dict[str, Any]
    """The reservation item's other properties."""
    status: SessionStatus
    """active (live), stopped, cancelled or expired."""
    default_resolution: Resolution
    """What the expiry clean-up does: confirmed (charge the last grant) or cancelled."""
    ttl_ms: int
    """How long a grant stays reserved without news, in milliseconds."""
    started_at: datetime
    """When the session started."""
    updated_at: datetime
    """When it was last updated (or ended)."""
    expires_at: datetime
    """When the current grant lapses."""
    consumption_date: datetime
    """The consumption date of the start."""
    granted_quantity: Quantity = Field(description="The last grant: what the network element may use before its next update.")
    used_quantity: Quantity = Field(description="All usage charged so far.")
    charged_amount: Dec = Field(description="All amounts charged so far.")
    reserved_amount: Dec = Field(description="The sum of the live reservations of the session.")
    currency: str = Field(description="The currency of charged_amount and reserved_amount (ISO 4217): the plan's, fixed at the start.")
    reservations: list[ReservationView]
    """The reservations held now, one per paying account."""
    impacts: SessionImpacts
    """What the session changed so far."""
    version: int
    """Increases with each change of the session."""


class SessionResult(_View):
    """The answer to start, update, stop, cancel or clean-up."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session": {
                        "session_id": "call-42",
                        "reservation_id": "call-42",
                        "subscriber_account_id": "alice",
                        "contract_id": "alice-contract",
                        "service_id": "mobile",
                        "user_id": "alice-msisdn",
                        "item_class": "voice_call",
                        "quantity_property": "duration",
                        "properties": {"destination": "33123"},
                        "status": "active",
                        "default_resolution": "confirmed",
                        "ttl_ms": 60000,
                        "started_at": "2026-06-01T12:00:00Z",
                        "updated_at": "2026-06-01T12:00:00Z",
                        "expires_at": "2026-06-01T12:01:00Z",
                        "consumption_date": "2026-06-01T10:00:00Z",
                        "granted_quantity": "300",
                        "used_quantity": "0",
                        "charged_amount": "0",
                        "reserved_amount": "3.00",
                        "currency": "EUR",
                        "reservations": [
                            {"account_id": "alice-prepaid", "amount": "3.00", "currency": "EUR", "expires_at": "2026-06-01T12:01:00Z"}
                        ],
                        "impacts": {"counters": [], "balances": [], "held_counters": [], "charged_items": []},
                        "version": 1,
                    },
                    "granted_quantity": "300",
                    "reserved_amount": "3.00",
                    "currency": "EUR",
                    "expires_at": "2026-06-01T12:01:00Z",
                    "grant_refusal": None,
                    "charge": None,
                    "notifications": [],
                    "replayed": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    session: SessionView
    """The session as it is now."""
    granted_quantity: Quantity
    """The grant: what may be used before the next update, in the quantity's unit."""
    reserved_amount: Dec
    """The amount held for the grant."""
    currency: str = Field(description="The currency of reserved_amount (ISO 4217).")
    expires_at: datetime
    """When the grant lapses unless the session reports."""
    grant_refusal: str | None = Field(
        default=None, description="On update: the code that explains a zero grant (prepaid_balance_cannot_cover, ...)."
    )
    charge: ChargeResult | None = Field(default=None, description="The charge of the usage this call reported, if any.")
    notifications: list[NotificationView] = []
    """The notifications this call raised."""
    replayed: bool = Field(default=False, description="True when this answers a retry with a known idempotency key: nothing done again.")


class CleanupReport(_View):
    model_config = ConfigDict(json_schema_extra={"examples": [{"resolved": [], "removed": 0}]})

    resolved: list[str] = Field(description="Ids of the sessions this pass resolved with their default resolution.")
    removed: int = Field(default=0, description="How many sessions that ended longer ago than the retention this pass removed.")

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
    account_id: str
    amount: Dec = Field(description="Held against the account until the session is updated, stopped, cancelled or cleaned up.")
    currency: str = Field(description="The account's currency (ISO 4217).")
    expires_at: datetime


class CounterImpact(_View):
    scope: str = Field(
        description="contract, contract_item, activation, shared or transient; a linked contract that uses its parent's "
        "counter shows the parent's contract id."
    )
    contract_id: str = Field(description="The contract that keeps the counter; empty for a shared counter.")
    contract_item_id: str | None = Field(description="The contract item or activation of the counter; none for contract and shared scope.")
    namespace: str | None = Field(default=None, description="The namespace of a shared counter.")
    counter: str
    unit: str
    delta: ExactNumber = Field(description="How much the session moved the counter, in its unit, exactly (n/d when not a finite decimal).")


class BalanceImpact(_View):
    account_id: str
    amount: Dec = Field(description="Added to the balance by the session's charges (negative for a prepaid debit).")
    currency: str


class SessionChargedItem(ChargedItemView):
    operation_id: str


class SessionImpacts(_View):
    """What a session changed: counters by scope, balances, transient counters (none yet) and its charged items."""

    counters: list[CounterImpact] = []
    balances: list[BalanceImpact] = []
    held_counters: list[CounterImpact] = Field(
        default=[], description="The counter moves the current grant holds (e.g. free units it was priced with), released when it ends."
    )
    charged_items: list[SessionChargedItem] = []


class SessionView(_View):
    session_id: str
    reservation_id: str
    subscriber_account_id: str
    contract_id: str
    service_id: str
    user_id: str
    item_class: str
    quantity_property: str
    properties: dict[str, Any]
    status: SessionStatus
    default_resolution: Resolution
    ttl_ms: int
    started_at: datetime
    updated_at: datetime
    expires_at: datetime
    consumption_date: datetime
    granted_quantity: Quantity = Field(description="The last grant: what the network element may use before its next update.")
    used_quantity: Quantity = Field(description="All usage charged so far.")
    charged_amount: Dec = Field(description="All amounts charged so far.")
    reserved_amount: Dec = Field(description="The sum of the live reservations of the session.")
    currency: str = Field(description="The currency of charged_amount and reserved_amount (ISO 4217): the plan's, fixed at the start.")
    reservations: list[ReservationView]
    impacts: SessionImpacts
    version: int


class SessionResult(_View):
    """The answer to start, update, stop, cancel or clean-up."""

    session: SessionView
    granted_quantity: Quantity
    reserved_amount: Dec
    currency: str = Field(description="The currency of reserved_amount (ISO 4217).")
    expires_at: datetime
    grant_refusal: str | None = Field(
        default=None, description="On update: the code that explains a zero grant (prepaid_balance_cannot_cover, ...)."
    )
    charge: ChargeResult | None = Field(default=None, description="The charge of the usage this call reported, if any.")
    notifications: list[NotificationView] = []
    replayed: bool = Field(default=False, description="True when this answers a retry with a known idempotency key: nothing done again.")


class CleanupReport(_View):
    resolved: list[str] = Field(description="Ids of the sessions this pass resolved with their default resolution.")

"""The result of charging one chargeable item, with the sections a client asks for.

The full result is built and stored once; each call (and each idempotent retry)
returns only the sections its :class:`ResultOptions` asked for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.domain.catalog import Dec, Quantity
from kopek.domain.master import AccountStatus
from kopek.domain.validation import Flag


class ResultOptions(BaseModel):
    """What the result holds; everything off except the charged items."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "charging_process_info": True,
                    "contract_info": True,
                    "chargeable_item_info": True,
                    "account_operations": True,
                    "account_info": True,
                    "charged_items": True,
                    "notifications": True,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    charging_process_info: Flag = False
    """Return the charging process info."""
    contract_info: Flag = False
    """Return the contract the access selected."""
    chargeable_item_info: Flag = False
    """Return the item as typed."""
    account_operations: Flag = False
    """Return the account operations."""
    account_info: Flag = False
    """Return the paying accounts after the charge."""
    charged_items: Flag = True
    """Return the charged items (on by default)."""
    notifications: Flag = False
    """Return the notifications the charge raised."""
    notifications_on_error: Flag = False
    """On a refusal, return the notifications it raised in the error body."""
    export_chargeable_item: Flag = Field(default=False, description="Also record the item for the item-file export.")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChargedItemView(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_item_id": "main",
                    "charge_plan": "mobile",
                    "charge": "voice",
                    "account_role": "payer",
                    "account_id": "alice-prepaid",
                    "amount": "1.20",
                    "currency": "EUR",
                    "quantity": "125",
                    "quantity_unit": "seconds",
                    "output": "both",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    contract_item_id: str
    """The contract item whose charge plan applied."""
    charge_plan: str
    """A charge plan of the catalog."""
    charge: str
    """The charge of the plan that priced it."""
    account_role: str
    """The account role that pays, e.g. prepaid; the contract names the account."""
    account_id: str
    """The account that pays it."""
    amount: Dec
    """The charge's amount, rounded as the catalog says, in currency."""
    currency: str
    """The plan's currency (ISO 4217)."""
    quantity: Quantity
    """The quantity priced, in quantity_unit, as canonical decimal text."""
    quantity_unit: str | None
    """The unit of the quantity (seconds, bytes, ...); null for items without a quantity."""
    output: str
    """Which item files it goes to: billable, consumption or both."""


class AccountOperationView(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account_id": "alice-prepaid", "kind": "debit", "amount": "-1.20", "balance_after": "8.80", "currency": "EUR"}]
        },
        use_attribute_docstrings=True,
    )

    account_id: str
    """The id of a prepaid or postpaid account."""
    kind: str
    """debit (prepaid) or accumulation (postpaid)."""
    amount: Dec = Field(description="Added to the balance; negative for a prepaid debit.")
    balance_after: Dec
    """The balance once the operation was posted."""
    currency: str
    """ISO 4217 currency code, e.g. EUR."""


class AccountView(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "carol-prepaid",
                    "subscriber_account_id": "carol",
                    "kind": "prepaid",
                    "currency": "EUR",
                    "balance": "15.00",
                    "floor": "0",
                    "credit_limit": None,
                    "low_balance_threshold": "2.00",
                    "status": "active",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    account_id: str
    """The id of a prepaid or postpaid account."""
    subscriber_account_id: str
    """The subscriber account's id."""
    kind: str
    """prepaid or postpaid."""
    currency: str
    """ISO 4217 currency code, e.g. EUR."""
    balance: Dec
    """Prepaid: the credit left; postpaid: the amount accumulated."""
    floor: Dec
    """Prepaid: the lowest balance a charge may leave."""
    credit_limit: Dec | None
    """Postpaid: the highest amount it may accumulate; null: no limit."""
    low_balance_threshold: Dec | None = Field(default=None, description="Prepaid: crossing below it notifies low_balance.")
    status: AccountStatus = Field(
        default=AccountStatus.ACTIVE,
        description="The account's own status; a charge needs it and its subscriber account's status active.",
    )


class ContractInfo(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "alice-contract",
                    "subscriber_account_id": "alice",
                    "status": "active",
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_to": None,
                    "parent_id": None,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    contract_id: str
    """The charging contract's id."""
    subscriber_account_id: str
    """The subscriber account's id."""
    status: str
    """active, locked or migrating."""
    valid_from: datetime
    """Start of validity, inclusive (ISO 8601 with an offset)."""
    valid_to: datetime | None
    """End of validity, exclusive (ISO 8601 with an offset); null: open-ended."""
    parent_id: str | None
    """The parent contract of a linked contract (whose contract counters it uses); null: none."""


class ChargeableItemInfo(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item_class": "voice_call",
                    "consumption_date": "2026-06-01T10:00:00Z",
                    "service_id": "mobile",
                    "user_id": "alice-msisdn",
                    "properties": {"duration": "125", "destination": "33123", "roaming": False},
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    item_class: str
    """A chargeable item class of the catalog, e.g. voice_call."""
    consumption_date: datetime
    """When the service was used (ISO 8601 with an offset)."""
    service_id: str
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: str
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    properties: dict[str, Any] = Field(description="Typed properties with defaults applied; decimals as strings.")


class ChargingProcessInfo(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                    "catalog_version": 1,
                    "charged_at": "2026-06-01T12:00:00Z",
                    "sender_job_id": "switch-7",
                    "idempotency_key": "call-0001",
                    "replayed": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    operation_id: str
    """The charging operation's id."""
    catalog_version: int
    """The catalog version that priced the item."""
    charged_at: datetime
    """When the charge was made."""
    sender_job_id: str | None
    """The sender's job or batch, as the request gave it."""
    idempotency_key: str | None
    """The request's idempotency key; null when none was sent. For the operation of a stored CDR (batch rating), the
    CDR id, which is kept apart from clients' keys (docs/batch.md)."""
    replayed: bool = Field(description="True when this is the stored result of an earlier call with the same idempotency key.")


class NotificationView(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "fee_applied",
                    "message": "fee 'subscription' of 30.00 EUR charged for the period from 2026-02-01",
                    "data": {
                        "contract_item_id": "monthly",
                        "charge_plan": "monthly",
                        "fee": "subscription",
                        "period_start": "2026-02-01T00:00:00+00:00",
                        "amount": "30.00",
                        "currency": "EUR",
                        "account_id": "ann-prepaid",
                        "prorated": "false",
                    },
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    kind: str
    """What happened: threshold_crossed, low_balance, no_access, usage_above_grant, ..."""
    message: str
    """For people; may change between versions."""
    data: dict[str, str] = {}
    """The notification's data by key (see GET /v1/notifications)."""


class ChargeResult(_Record):
    """The result of one offline charge; a section is absent unless its option was set."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                    "charging_process_info": {
                        "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                        "catalog_version": 1,
                        "charged_at": "2026-06-01T12:00:00Z",
                        "sender_job_id": "switch-7",
                        "idempotency_key": "call-0001",
                        "replayed": False,
                    },
                    "contract_info": {
                        "contract_id": "alice-contract",
                        "subscriber_account_id": "alice",
                        "status": "active",
                        "valid_from": "2026-01-01T00:00:00Z",
                        "valid_to": None,
                        "parent_id": None,
                    },
                    "chargeable_item_info": {
                        "item_class": "voice_call",
                        "consumption_date": "2026-06-01T10:00:00Z",
                        "service_id": "mobile",
                        "user_id": "alice-msisdn",
                        "properties": {"duration": "125", "destination": "33123", "roaming": False},
                    },
                    "charged_items": [
                        {
                            "contract_item_id": "main",
                            "charge_plan": "mobile",
                            "charge": "voice",
                            "account_role": "payer",
                            "account_id": "alice-prepaid",
                            "amount": "1.20",
                            "currency": "EUR",
                            "quantity": "125",
                            "quantity_unit": "seconds",
                            "output": "both",
                        }
                    ],
                    "account_operations": [
                        {"account_id": "alice-prepaid", "kind": "debit", "amount": "-1.20", "balance_after": "8.80", "currency": "EUR"}
                    ],
                    "account_info": [
                        {
                            "account_id": "alice-prepaid",
                            "subscriber_account_id": "alice",
                            "kind": "prepaid",
                            "currency": "EUR",
                            "balance": "8.80",
                            "floor": "0",
                            "credit_limit": None,
                            "low_balance_threshold": None,
                            "status": "active",
                        }
                    ],
                    "notifications": [
                        {
                            "kind": "allowance_exhausted",
                            "message": "allowance 'free_seconds' is used up",
                            "data": {"counter": "free_seconds"},
                        }
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    operation_id: str
    """The charging operation's id."""
    charging_process_info: ChargingProcessInfo | None = None
    """With options.charging_process_info: the catalog version, when, the idempotency key, whether replayed."""
    contract_info: ContractInfo | None = None
    """With options.contract_info: the contract the access selected."""
    chargeable_item_info: ChargeableItemInfo | None = None
    """With options.chargeable_item_info: the item as typed, defaults applied."""
    charged_items: list[ChargedItemView] | None = None
    """With options.charged_items (the default): what each charge priced and who pays."""
    account_operations: list[AccountOperationView] | None = None
    """With options.account_operations: each balance change."""
    account_info: list[AccountView] | None = None
    """With options.account_info: the paying accounts after the charge."""
    notifications: list[NotificationView] | None = None
    """With options.notifications: the notifications the charge raised."""

    def select(self, options: ResultOptions, *, replayed: bool = False) -> ChargeResult:
        """This result reduced to the sections ``options`` asks for."""
        process = self.charging_process_info
        if process is not None and replayed:
            process = process.model_copy(update={"replayed": True})
        return ChargeResult(
            operation_id=self.operation_id,
            charging_process_info=process if options.charging_process_info else None,
            contract_info=self.contract_info if options.contract_info else None,
            chargeable_item_info=self.chargeable_item_info if options.chargeable_item_info else None,
            charged_items=self.charged_items if options.charged_items else None,
            account_operations=self.account_operations if options.account_operations else None,
            account_info=self.account_info if options.account_info else None,
            notifications=self.notifications if options.notifications else None,
        )

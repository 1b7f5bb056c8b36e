"""The result of charging one chargeable item, with the sections a client asks for.

The full result is built and stored once; each call (and each idempotent retry)
returns only the sections its :class:`ResultOptions` asked for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.domain.catalog import Dec, Quantity
from kopek.domain.validation import Flag


class ResultOptions(BaseModel):
    """What the result holds; everything off except the charged items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    charging_process_info: Flag = False
    contract_info: Flag = False
    chargeable_item_info: Flag = False
    account_operations: Flag = False
    account_info: Flag = False
    charged_items: Flag = True
    notifications: Flag = False
    notifications_on_error: Flag = False
    export_chargeable_item: Flag = Field(default=False, description="Also record the item for the item-file export.")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChargedItemView(_Record):
    contract_item_id: str
    charge_plan: str
    charge: str
    account_role: str
    account_id: str
    amount: Dec
    currency: str
    quantity: Quantity
    quantity_unit: str | None
    output: str


class AccountOperationView(_Record):
    account_id: str
    kind: str
    amount: Dec = Field(description="Added to the balance; negative for a prepaid debit.")
    balance_after: Dec
    currency: str


class AccountView(_Record):
    account_id: str
    subscriber_account_id: str
    kind: str
    currency: str
    balance: Dec
    floor: Dec
    credit_limit: Dec | None
    low_balance_threshold: Dec | None = Field(default=None, description="Prepaid: crossing below it notifies low_balance.")


class ContractInfo(_Record):
    contract_id: str
    subscriber_account_id: str
    status: str
    valid_from: datetime
    valid_to: datetime | None
    parent_id: str | None


class ChargeableItemInfo(_Record):
    item_class: str
    consumption_date: datetime
    service_id: str
    user_id: str
    properties: dict[str, Any] = Field(description="Typed properties with defaults applied; decimals as strings.")


class ChargingProcessInfo(_Record):
    operation_id: str
    catalog_version: int
    charged_at: datetime
    sender_job_id: str | None
    idempotency_key: str | None
    replayed: bool = Field(description="True when this is the stored result of an earlier call with the same idempotency key.")


class NotificationView(_Record):
    kind: str
    message: str
    data: dict[str, str] = {}


class ChargeResult(_Record):
    """The result of one offline charge; a section is absent unless its option was set."""

    operation_id: str
    charging_process_info: ChargingProcessInfo | None = None
    contract_info: ContractInfo | None = None
    chargeable_item_info: ChargeableItemInfo | None = None
    charged_items: list[ChargedItemView] | None = None
    account_operations: list[AccountOperationView] | None = None
    account_info: list[AccountView] | None = None
    notifications: list[NotificationView] | None = None

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

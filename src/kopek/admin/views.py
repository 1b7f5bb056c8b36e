"""Read models of master data, as returned by HTTP, CLI (``--json``) and the Python API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.charging.offline import account_view
from kopek.charging.results import AccountView
from kopek.domain.catalog import Dec, ExactNumber
from kopek.domain.master import Access, Contract
from kopek.store.uow import UnitOfWork


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubscriberAccountView(_View):
    id: str
    currency: str
    status: str
    name: str
    accounts: list[AccountView]
    contract_ids: list[str]


class ContractItemView(_View):
    id: str
    charge_plan: str


class AccessView(_View):
    service_id: str
    user_id: str
    contract_id: str
    valid_from: datetime
    valid_to: datetime | None


class CounterView(_View):
    """A stored counter value; a reset or an expiry due since shows at the next item that reads it."""

    scope: str = Field(description="contract, contract_item or activation.")
    item_id: str = Field(description="The contract item, or the activation; empty for contract scope.")
    name: str
    unit: str
    value: ExactNumber = Field(description="Exact, in the counter's unit: a decimal, or n/d when it has no finite decimal expansion.")
    period_start: datetime | None = Field(description="The start of the reset period the value belongs to; none: never resets.")
    expires_at: datetime | None = Field(description="When the value lapses back to the initial value; none: never.")


class ContractView(_View):
    id: str
    subscriber_account_id: str
    valid_from: datetime
    valid_to: datetime | None
    status: str
    parent_id: str | None
    items: list[ContractItemView]
    roles: dict[str, str]
    accesses: list[AccessView]
    counters: list[CounterView]


class AccountOperationRecord(_View):
    id: int
    account_id: str
    operation_id: str | None
    kind: str
    amount: Dec
    balance_after: Dec
    currency: str
    created_at: datetime


def subscriber_account_view(uow: UnitOfWork, subscriber_account_id: str) -> SubscriberAccountView | None:
    holder = uow.master.subscriber_account(subscriber_account_id)
    if holder is None:
        return None
    return SubscriberAccountView(
        id=holder.id,
        currency=holder.currency,
        status=holder.status.value,
        name=holder.name,
        accounts=[account_view(account) for account in uow.master.accounts_of(holder.id)],
        contract_ids=uow.master.contracts_of(holder.id),
    )


def access_view(access: Access) -> AccessView:
    return AccessView(
        service_id=access.service_id,
        user_id=access.user_id,
        contract_id=access.contract_id,
        valid_from=access.valid_from,
        valid_to=access.valid_to,
    )


def contract_view(uow: UnitOfWork, contract: Contract) -> ContractView:
    return ContractView(
        id=contract.id,
        subscriber_account_id=contract.subscriber_account_id,
        valid_from=contract.valid_from,
        valid_to=contract.valid_to,
        status=contract.status.value,
        parent_id=contract.parent_id,
        items=[ContractItemView(id=item.id, charge_plan=item.charge_plan) for item in contract.items],
        roles=dict(contract.roles),
        accesses=[access_view(access) for access in uow.master.accesses_of_contract(contract.id)],
        counters=_counter_views(uow, contract.id),
    )


def _counter_views(uow: UnitOfWork, contract_id: str) -> list[CounterView]:
    return [
        CounterView(
            scope=key.scope.value,
            item_id=key.item_id,
            name=key.name,
            unit=unit,
            value=value,
            period_start=life.period_start,
            expires_at=life.expires_at,
        )
        for key, unit, value, life in uow.counters.listing(contract_id)
    ]


def operation_records(rows: list[dict[str, Any]]) -> list[AccountOperationRecord]:
    return [AccountOperationRecord.model_validate(row) for row in rows]

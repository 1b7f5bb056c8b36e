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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "alice",
                    "currency": "EUR",
                    "status": "active",
                    "name": "",
                    "accounts": [
                        {
                            "account_id": "alice-prepaid",
                            "subscriber_account_id": "alice",
                            "kind": "prepaid",
                            "currency": "EUR",
                            "balance": "5.80",
                            "floor": "0",
                            "credit_limit": None,
                            "low_balance_threshold": None,
                            "status": "active",
                        }
                    ],
                    "contract_ids": ["alice-contract"],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The subscriber account's id."""
    currency: str
    """ISO 4217 currency code, e.g. EUR."""
    status: str
    """active, blocked, locked or closed."""
    name: str
    """Its display name."""
    accounts: list[AccountView]
    """Its prepaid and postpaid accounts with their balances."""
    contract_ids: list[str]
    """Its contracts."""


class ContractItemView(_View):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "main", "charge_plan": "mobile"}]}, use_attribute_docstrings=True)

    id: str
    """The contract item's id."""
    charge_plan: str
    """A charge plan of the catalog."""


class AccessView(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "service_id": "mobile",
                    "user_id": "carol-msisdn",
                    "contract_id": "carol-contract",
                    "valid_from": "2026-01-01T00:00:00+01:00",
                    "valid_to": None,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: int
    """The access's id (the cursor of GET /v1/accesses)."""
    service_id: str
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: str
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    contract_id: str
    """The contract the access selects."""
    valid_from: datetime
    """Start of validity, inclusive (ISO 8601 with an offset)."""
    valid_to: datetime | None
    """End of validity, exclusive (ISO 8601 with an offset); null: open-ended."""


class CounterView(_View):
    """A stored counter value; a reset or an expiry due since shows at the next item that reads it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "contract_item",
                    "item_id": "main",
                    "name": "free_seconds",
                    "unit": "seconds",
                    "value": "0",
                    "period_start": None,
                    "expires_at": None,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    scope: str = Field(description="contract, contract_item or activation.")
    item_id: str = Field(description="The contract item, or the activation; empty for contract scope.")
    name: str
    """The counter's name."""
    unit: str
    """The counter's unit."""
    value: ExactNumber = Field(description="Exact, in the counter's unit: a decimal, or n/d when it has no finite decimal expansion.")
    period_start: datetime | None = Field(description="The start of the reset period the value belongs to; none: never resets.")
    expires_at: datetime | None = Field(description="When the value lapses back to the initial value; none: never.")


class ContractSummary(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "alice-contract",
                    "subscriber_account_id": "alice",
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_to": None,
                    "status": "active",
                    "parent_id": None,
                    "items": [{"id": "main", "charge_plan": "mobile"}],
                    "roles": {"payer": "alice-prepaid"},
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The contract's id."""
    subscriber_account_id: str
    """The subscriber account's id."""
    valid_from: datetime
    """Start of validity, inclusive (ISO 8601 with an offset)."""
    valid_to: datetime | None
    """End of validity, exclusive (ISO 8601 with an offset); null: open-ended."""
    status: str
    """active, locked (by a recharging operation) or migrating."""
    parent_id: str | None
    """The parent contract of a linked contract (whose contract counters it uses); null: none."""
    items: list[ContractItemView]
    """The contract items: each activates one charge plan."""
    roles: dict[str, str]
    """Account role (e.g. prepaid, postpaid) to the account that pays for it."""


class ContractView(ContractSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "alice-contract",
                    "subscriber_account_id": "alice",
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_to": None,
                    "status": "active",
                    "parent_id": None,
                    "items": [{"id": "main", "charge_plan": "mobile"}],
                    "roles": {"payer": "alice-prepaid"},
                    "accesses": [
                        {
                            "id": 1,
                            "service_id": "mobile",
                            "user_id": "alice-msisdn",
                            "contract_id": "alice-contract",
                            "valid_from": "2026-01-01T00:00:00Z",
                            "valid_to": None,
                        }
                    ],
                    "counters": [
                        {
                            "scope": "contract_item",
                            "item_id": "main",
                            "name": "free_seconds",
                            "unit": "seconds",
                            "value": "0",
                            "period_start": None,
                            "expires_at": None,
                        }
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    accesses: list[AccessView]
    """The accesses that select this contract."""
    counters: list[CounterView]
    """The stored counters of the contract, its items and activations."""


class AccountOperationRecord(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "account_id": "alice-prepaid",
                    "operation_id": "f9c2ab357d6618bf273a48d07d1d4b9b",
                    "kind": "debit",
                    "amount": "-1.20",
                    "balance_after": "8.80",
                    "currency": "EUR",
                    "created_at": "2026-06-01T12:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: int
    """The operation's id; accounts' operations are numbered in the order they were posted."""
    account_id: str
    """The id of a prepaid or postpaid account."""
    operation_id: str | None
    """The charging operation that posted it; null for administrative ones (opening, adjustment, refill) and for a
    rating job's chunk (see chunk_id)."""
    kind: str
    """opening, debit, accumulation, credit, adjustment or refill."""
    amount: Dec
    """Added to the balance; negative for a debit."""
    balance_after: Dec
    """The balance once the operation was posted."""
    currency: str
    """ISO 4217 currency code, e.g. EUR."""
    created_at: datetime
    """When it was posted."""
    chunk_id: str | None = None
    """The chunk of a rating job that posted it (one operation per account for all the chunk's CDRs; operation_id is
    then null); ``GET /v1/cdrs?chunk_id=`` lists the chunk's CDRs."""


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


def subscriber_account_views(uow: UnitOfWork, subscriber_account_ids: list[str]) -> list[SubscriberAccountView]:
    """The views of several subscriber accounts (those that exist), in id order: three statements for a page of them."""
    holders = uow.master.subscriber_accounts(subscriber_account_ids)
    accounts: dict[str, list[AccountView]] = {}
    for account in uow.master.accounts_of_holders(subscriber_account_ids):
        accounts.setdefault(account.subscriber_account_id, []).append(account_view(account))
    contracts = uow.master.contracts_of_holders(subscriber_account_ids)
    return [
        SubscriberAccountView(
            id=holder.id,
            currency=holder.currency,
            status=holder.status.value,
            name=holder.name,
            accounts=accounts.get(holder.id, []),
            contract_ids=contracts.get(holder.id, []),
        )
        for holder in holders
    ]


def contract_summary(contract: Contract) -> ContractSummary:
    return ContractSummary(
        id=contract.id,
        subscriber_account_id=contract.subscriber_account_id,
        valid_from=contract.valid_from,
        valid_to=contract.valid_to,
        status=contract.status.value,
        parent_id=contract.parent_id,
        items=[ContractItemView(id=item.id, charge_plan=item.charge_plan) for item in contract.items],
        roles=dict(contract.roles),
    )


def access_view(access: Access) -> AccessView:
    assert access.id is not None, "a stored access has an id"
    return AccessView(
        id=access.id,
        service_id=access.service_id,
        user_id=access.user_id,
        contract_id=access.contract_id,
        valid_from=access.valid_from,
        valid_to=access.valid_to,
    )


def contract_view(uow: UnitOfWork, contract: Contract) -> ContractView:
    return ContractView(
        **contract_summary(contract).model_dump(),
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

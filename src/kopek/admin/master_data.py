"""Master data administration: create, read and update subscriber accounts, accounts,
contracts and accesses, one by one or in bulk from a document.

Inputs are pydantic models shared by HTTP, CLI, bulk files and the Python API.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from kopek import limits
from kopek.domain.accounts import OperationKind, adjust
from kopek.domain.catalog import Catalog, Dec, Name
from kopek.domain.currencies import entered_amount
from kopek.domain.master import (
    Access,
    Account,
    AccountId,
    AccountKind,
    Contract,
    ContractId,
    ContractItem,
    ContractItemId,
    ContractStatus,
    SubscriberAccount,
    SubscriberAccountId,
    SubscriberAccountStatus,
)
from kopek.errors import AlreadyExistsError, Code, DoesNotExistError, ErrorDetail, InvalidError
from kopek.store.uow import UnitOfWork


def _aware(moment: object) -> object:
    # Only ISO 8601 text (or a datetime from Python) is a date here; a bare number is
    # too easily a mistake to read as seconds since 1970.
    if isinstance(moment, int | float | Decimal):
        raise ValueError("expected an ISO 8601 date and time with an offset")
    if isinstance(moment, datetime) and moment.tzinfo is None:
        raise ValueError("a date and time must carry a time zone offset")
    return moment


def _has_offset(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a date and time must carry a time zone offset")
    return moment


Location = tuple[str | int, ...]
"""Where a record sits in a request or file, for the errors about it."""

AwareDatetime = Annotated[datetime, BeforeValidator(_aware), AfterValidator(_has_offset)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AccountInput(_Input):
    id: Name
    kind: AccountKind
    initial_balance: Dec = Field(default=Decimal(0), description="Opening balance, recorded as an 'opening' account operation.")
    floor: Dec = Field(default=Decimal(0), description="Prepaid: the lowest balance a charge may leave.")
    credit_limit: Dec | None = Field(default=None, description="Postpaid: the highest accumulated amount; none for no limit.")
    low_balance_threshold: Dec | None = Field(
        default=None, description="Prepaid: a charge taking the balance below it notifies low_balance; none for never."
    )


class SubscriberAccountInput(_Input):
    id: Name
    currency: Currency
    status: SubscriberAccountStatus = SubscriberAccountStatus.ACTIVE
    name: str = Field(default="", max_length=256)
    accounts: tuple[AccountInput, ...] = Field(default=(), max_length=16)


class SubscriberAccountUpdate(_Input):
    status: SubscriberAccountStatus | None = None
    name: str | None = Field(default=None, max_length=256)


class ContractItemInput(_Input):
    id: Name
    charge_plan: Name


class ContractInput(_Input):
    id: Name
    subscriber_account_id: Name
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    parent_id: Name | None = None
    items: tuple[ContractItemInput, ...] = Field(default=(), max_length=256)
    roles: dict[str, str] = Field(default_factory=dict, description="Account role (e.g. prepaid, postpaid) to account id.")


class ContractUpdate(_Input):
    valid_to: AwareDatetime | None = None
    status: ContractStatus | None = None
    items: tuple[ContractItemInput, ...] | None = None
    roles: dict[str, str] | None = None


class AccessInput(_Input):
    service_id: Name
    user_id: Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]
    contract_id: Name
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None


class AdjustmentInput(_Input):
    amount: Dec = Field(description="Added to the balance (a credit when positive).")
    reason: str = Field(default="", max_length=256)


class MasterDataDocument(_Input):
    """A bulk master data file: records are created in this order."""

    subscriber_accounts: tuple[SubscriberAccountInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)
    contracts: tuple[ContractInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)
    accesses: tuple[AccessInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)


# ---- handlers ---------------------------------------------------------------------------


ENTERED_AMOUNTS = ("initial_balance", "floor", "credit_limit", "low_balance_threshold")
"""The amounts of an account a person enters, each bounded by the currency's scale (see :mod:`kopek.domain.currencies`)."""


def create_subscriber_account(
    uow: UnitOfWork, record: SubscriberAccountInput, *, at: datetime, catalog: Catalog | None = None, location: Location = ()
) -> None:
    """Create a subscriber account and its accounts; ``location`` is where ``record`` sits in a bulk document, for errors."""
    if uow.master.subscriber_account(record.id) is not None:
        raise AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"subscriber account {record.id!r} already exists")
    accounts = [
        _entered(account, record.currency, catalog, (*location, "accounts", index)) for index, account in enumerate(record.accounts)
    ]
    uow.master.insert_subscriber_account(
        SubscriberAccount(SubscriberAccountId(record.id), record.currency, record.status, record.name), at=at
    )
    for account in accounts:
        _create_account(uow, SubscriberAccountId(record.id), record.currency, account, at=at)


def add_account(uow: UnitOfWork, subscriber_account_id: str, record: AccountInput, *, at: datetime, catalog: Catalog | None = None) -> None:
    holder = require_subscriber_account(uow, subscriber_account_id)
    _create_account(uow, holder.id, holder.currency, _entered(record, holder.currency, catalog, ()), at=at)


def _entered(record: AccountInput, currency: str, catalog: Catalog | None, location: Location) -> AccountInput:
    """``record`` with each amount checked against ``currency``'s scale (trailing zeros past it dropped)."""
    declared = catalog.currency_decimals if catalog is not None else {}
    checked = {
        name: entered_amount(value, currency, declared, field=(*location, name))
        for name in ENTERED_AMOUNTS
        if (value := getattr(record, name)) is not None
    }
    return record.model_copy(update=checked)


def _create_account(uow: UnitOfWork, holder: SubscriberAccountId, currency: str, record: AccountInput, *, at: datetime) -> None:
    if uow.master.account(record.id) is not None:
        raise AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"account {record.id!r} already exists")
    if record.kind is AccountKind.PREPAID and record.initial_balance < record.floor:
        raise InvalidError(code=Code.MASTER_DATA_INVALID, message=f"account {record.id!r}: initial balance below its floor")
    if record.kind is not AccountKind.PREPAID and record.low_balance_threshold is not None:
        raise InvalidError(code=Code.MASTER_DATA_INVALID, message=f"account {record.id!r}: a low balance threshold is for prepaid only")
    account = Account(
        AccountId(record.id),
        holder,
        record.kind,
        currency,
        Decimal(0),
        record.floor,
        record.credit_limit,
        low_balance_threshold=record.low_balance_threshold,
    )
    uow.master.insert_account(account)
    if record.initial_balance != 0:
        _apply(uow, account, record.initial_balance, OperationKind.OPENING, at=at)


def adjust_balance(
    uow: UnitOfWork, account_id: str, adjustment: AdjustmentInput, *, at: datetime, catalog: Catalog | None = None
) -> Account:
    """Change a balance by an administrative adjustment (a credit or a correction), in the places its currency allows."""
    locked = uow.master.lock_accounts([account_id])
    if account_id not in locked:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"account {account_id!r} does not exist")
    account = locked[AccountId(account_id)]
    declared = catalog.currency_decimals if catalog is not None else {}
    amount = entered_amount(adjustment.amount, account.currency, declared, field=("amount",))
    kind = OperationKind.CREDIT if amount > 0 else OperationKind.ADJUSTMENT
    return _apply(uow, account, amount, kind, at=at)


def _apply(uow: UnitOfWork, account: Account, amount: Decimal, kind: OperationKind, *, at: datetime) -> Account:
    after, operation = adjust(account, amount, kind)
    uow.master.set_balance(account.id, after.balance)
    uow.master.insert_account_operations([operation], operation_id=None, at=at)
    return after


def update_subscriber_account(uow: UnitOfWork, subscriber_account_id: str, update: SubscriberAccountUpdate) -> None:
    require_subscriber_account(uow, subscriber_account_id)
    values = update.model_dump(exclude_none=True)
    if values:
        uow.master.update_subscriber_account(subscriber_account_id, {key: getattr(value, "value", value) for key, value in values.items()})


def require_subscriber_account(uow: UnitOfWork, subscriber_account_id: str) -> SubscriberAccount:
    found = uow.master.subscriber_account(subscriber_account_id)
    if found is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"subscriber account {subscriber_account_id!r} does not exist")
    return found


def require_contract(uow: UnitOfWork, contract_id: str) -> Contract:
    found = uow.master.contract(contract_id)
    if found is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {contract_id!r} does not exist")
    return found


def create_contract(uow: UnitOfWork, record: ContractInput, catalog: Catalog | None) -> Contract:
    if uow.master.contract(record.id) is not None:
        raise AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"contract {record.id!r} already exists")
    require_subscriber_account(uow, record.subscriber_account_id)
    if record.parent_id is not None:
        require_contract(uow, record.parent_id)
    contract = Contract(
        id=ContractId(record.id),
        subscriber_account_id=SubscriberAccountId(record.subscriber_account_id),
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        status=record.status,
        parent_id=ContractId(record.parent_id) if record.parent_id else None,
        items=tuple(ContractItem(ContractItemId(item.id), item.charge_plan) for item in record.items),
        roles={role: AccountId(account_id) for role, account_id in record.roles.items()},
    )
    _check_contract(uow, contract, catalog)
    uow.master.insert_contract(contract)
    return contract


def update_contract(uow: UnitOfWork, contract_id: str, update: ContractUpdate, catalog: Catalog | None) -> Contract:
    current = require_contract(uow, contract_id)
    changes: dict[str, Any] = {}
    if "valid_to" in update.model_fields_set:
        changes["valid_to"] = update.valid_to
    if update.status is not None:
        changes["status"] = update.status
    if update.items is not None:
        changes["items"] = tuple(ContractItem(ContractItemId(item.id), item.charge_plan) for item in update.items)
    if update.roles is not None:
        changes["roles"] = {role: AccountId(account_id) for role, account_id in update.roles.items()}
    contract = replace(current, **changes)
    _check_contract(uow, contract, catalog)
    uow.master.replace_contract(contract)
    return contract


def _check_contract(uow: UnitOfWork, contract: Contract, catalog: Catalog | None) -> None:
    faults: list[ErrorDetail] = []
    if contract.valid_to is not None and contract.valid_to <= contract.valid_from:
        faults.append(ErrorDetail("valid_to must be after valid_from", ("valid_to",)))
    item_ids = [item.id for item in contract.items]
    if len(set(item_ids)) != len(item_ids):
        faults.append(ErrorDetail("contract item ids must be unique", ("items",)))
    for index, item in enumerate(contract.items):
        if catalog is not None and catalog.charge_plan(item.charge_plan) is None:
            faults.append(ErrorDetail(f"unknown charge plan {item.charge_plan!r}", ("items", index, "charge_plan")))
    for role, account_id in contract.roles.items():
        if uow.master.account(account_id) is None:
            faults.append(ErrorDetail(f"role {role!r} names unknown account {account_id!r}", ("roles", role)))
    if faults:
        raise InvalidError(
            code=Code.MASTER_DATA_INVALID,
            message=f"contract {contract.id!r}: " + "; ".join(f.message for f in faults),
            details=tuple(faults),
        )


def create_access(uow: UnitOfWork, record: AccessInput) -> Access:
    require_contract(uow, record.contract_id)
    access = Access(record.service_id, record.user_id, ContractId(record.contract_id), record.valid_from, record.valid_to)
    if access.valid_to is not None and access.valid_to <= access.valid_from:
        raise InvalidError(code=Code.MASTER_DATA_INVALID, message="valid_to must be after valid_from")
    for other in uow.master.accesses_of(record.service_id, record.user_id):
        if _overlap(access, other):
            raise AlreadyExistsError(
                code=Code.ALREADY_EXISTS,
                message=(
                    f"service {record.service_id!r} user {record.user_id!r} already has an access"
                    f" to {other.contract_id!r} over an overlapping period"
                ),
            )
    uow.master.insert_access(access)
    return access


def _overlap(one: Access, other: Access) -> bool:
    one_ends_after = other.valid_to is None or one.valid_from < other.valid_to
    other_ends_after = one.valid_to is None or other.valid_from < one.valid_to
    return one_ends_after and other_ends_after


def load_master_data(uow: UnitOfWork, document: MasterDataDocument, catalog: Catalog | None, *, at: datetime) -> dict[str, int]:
    """Create every record of ``document`` in one transaction; any fault undoes all of it."""
    for index, subscriber in enumerate(document.subscriber_accounts):
        create_subscriber_account(uow, subscriber, at=at, catalog=catalog, location=("subscriber_accounts", index))
    for contract in document.contracts:
        create_contract(uow, contract, catalog)
    for access in document.accesses:
        create_access(uow, access)
    return {
        "subscriber_accounts": len(document.subscriber_accounts),
        "contracts": len(document.contracts),
        "accesses": len(document.accesses),
    }

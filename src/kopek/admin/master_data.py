"""Master data administration: create, read and update subscriber accounts, accounts,
contracts and accesses, one by one or in bulk from a document.

Inputs are pydantic models shared by HTTP, CLI, bulk files and the Python API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    AccountStatus,
    Contract,
    ContractId,
    ContractItem,
    ContractItemId,
    ContractStatus,
    SubscriberAccount,
    SubscriberAccountId,
    SubscriberAccountStatus,
)
from kopek.errors import AlreadyExistsError, Code, DoesNotExistError, ErrorDetail, InvalidError, KopekError
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "carol-prepaid",
                    "kind": "prepaid",
                    "status": "active",
                    "initial_balance": "15.00",
                    "floor": "0",
                    "low_balance_threshold": "2.00",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: Name
    """The new account's id."""
    kind: AccountKind
    """prepaid (a balance debited, never below its floor) or postpaid (an amount accumulated)."""
    status: AccountStatus = Field(default=AccountStatus.ACTIVE, description="active, blocked, locked or closed; a charge needs active.")
    initial_balance: Dec = Field(default=Decimal(0), description="Opening balance, recorded as an 'opening' account operation.")
    floor: Dec = Field(default=Decimal(0), description="Prepaid: the lowest balance a charge may leave.")
    credit_limit: Dec | None = Field(default=None, description="Postpaid: the highest accumulated amount; none for no limit.")
    low_balance_threshold: Dec | None = Field(
        default=None, description="Prepaid: a charge taking the balance below it notifies low_balance; none for never."
    )


class SubscriberAccountInput(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "carol",
                    "name": "Carol Durand",
                    "currency": "EUR",
                    "status": "active",
                    "accounts": [
                        {
                            "id": "carol-prepaid",
                            "kind": "prepaid",
                            "status": "active",
                            "initial_balance": "15.00",
                            "floor": "0",
                            "low_balance_threshold": "2.00",
                        }
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: Name
    """The new subscriber account's id."""
    currency: Currency
    """ISO 4217 currency code of all its accounts, e.g. EUR."""
    status: SubscriberAccountStatus = SubscriberAccountStatus.ACTIVE
    """active, blocked, locked or closed; a charge needs active."""
    name: str = Field(default="", max_length=256)
    """A display name."""
    accounts: tuple[AccountInput, ...] = Field(default=(), max_length=16)
    """Its prepaid and postpaid accounts."""


class AccountUpdate(_Input):
    """What may change of a prepaid or postpaid account after it was opened (its balance changes by adjustments)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "blocked"}]})

    status: AccountStatus | None = Field(default=None, description="active, blocked, locked or closed; absent: unchanged.")


class SubscriberAccountUpdate(_Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "active", "name": "Carol D."}]}, use_attribute_docstrings=True)

    status: SubscriberAccountStatus | None = None
    """A new status (block, lock, close); absent: unchanged."""
    name: str | None = Field(default=None, max_length=256)
    """A new display name; absent: unchanged."""


class ContractItemInput(_Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "main", "charge_plan": "mobile"}]}, use_attribute_docstrings=True)

    id: Name
    """The contract item's id, unique in the contract."""
    charge_plan: Name
    """A charge plan of the catalog."""


class ContractInput(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "carol-contract",
                    "subscriber_account_id": "carol",
                    "valid_from": "2026-01-01T00:00:00+01:00",
                    "valid_to": None,
                    "status": "active",
                    "parent_id": None,
                    "items": [{"id": "main", "charge_plan": "mobile"}],
                    "roles": {"payer": "carol-prepaid"},
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: Name
    """The new contract's id."""
    subscriber_account_id: Name
    """The subscriber account's id."""
    valid_from: AwareDatetime
    """Start of validity, inclusive (ISO 8601 with an offset)."""
    valid_to: AwareDatetime | None = None
    """End of validity, exclusive (ISO 8601 with an offset); null: open-ended."""
    status: ContractStatus = ContractStatus.ACTIVE
    """active, locked or migrating."""
    parent_id: Name | None = None
    """The parent contract of a linked contract (whose contract counters it uses); null: none."""
    items: tuple[ContractItemInput, ...] = Field(default=(), max_length=256)
    """The contract items: each activates one charge plan."""
    roles: dict[str, str] = Field(default_factory=dict, description="Account role (e.g. prepaid, postpaid) to account id.")


class ContractUpdate(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid_to": "2027-01-01T00:00:00+01:00",
                    "status": "active",
                    "items": [{"id": "main", "charge_plan": "mobile"}],
                    "roles": {"payer": "carol-prepaid"},
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    valid_to: AwareDatetime | None = None
    """A new end of validity; null: open-ended; absent: unchanged."""
    status: ContractStatus | None = None
    """A new status; absent: unchanged."""
    items: tuple[ContractItemInput, ...] | None = None
    """New contract items, replacing them all; absent: unchanged."""
    roles: dict[str, str] | None = None
    """New account roles, replacing them all; absent: unchanged."""


class AccessInput(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
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

    service_id: Name
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    contract_id: Name
    """The contract the access selects."""
    valid_from: AwareDatetime
    """Start of validity, inclusive (ISO 8601 with an offset)."""
    valid_to: AwareDatetime | None = None
    """End of validity, exclusive (ISO 8601 with an offset); null: open-ended."""


class AdjustmentInput(_Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "5.00", "reason": "goodwill gesture"}]}, use_attribute_docstrings=True
    )

    amount: Dec = Field(description="Added to the balance (a credit when positive).")
    reason: str = Field(default="", max_length=256)
    """Why, for the audit log."""


class MasterDataDocument(_Input):
    """A bulk master data file: records are created in this order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscriber_accounts": [
                        {
                            "id": "dave",
                            "currency": "EUR",
                            "accounts": [{"id": "dave-postpaid", "kind": "postpaid", "credit_limit": "100.00"}],
                        }
                    ],
                    "contracts": [
                        {
                            "id": "dave-contract",
                            "subscriber_account_id": "dave",
                            "valid_from": "2026-01-01T00:00:00+01:00",
                            "items": [{"id": "main", "charge_plan": "mobile"}],
                            "roles": {"payer": "dave-postpaid"},
                        }
                    ],
                    "accesses": [
                        {
                            "service_id": "mobile",
                            "user_id": "dave-msisdn",
                            "contract_id": "dave-contract",
                            "valid_from": "2026-01-01T00:00:00+01:00",
                        }
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    subscriber_accounts: tuple[SubscriberAccountInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)
    """Created first, with their accounts."""
    contracts: tuple[ContractInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)
    """Created second."""
    accesses: tuple[AccessInput, ...] = Field(default=(), max_length=limits.MASTER_DATA_RECORDS_MAX)
    """Created last."""


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
        status=record.status,
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


def update_account(uow: UnitOfWork, account_id: str, update: AccountUpdate) -> Account:
    """Change an account's own status; the account is locked first, so a charge in flight finishes before or sees it."""
    locked = uow.master.lock_accounts([account_id])
    if account_id not in locked:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"account {account_id!r} does not exist")
    account = locked[AccountId(account_id)]
    if update.status is not None and update.status is not account.status:
        uow.master.update_account(account_id, {"status": update.status.value})
        account = replace(account, status=update.status)
    return account


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
    return replace(access, id=uow.master.insert_access(access))


@contextmanager
def _refused_at(kind: str, index: int, record: str) -> Iterator[None]:
    try:
        yield
    except KopekError as error:
        raise error.restated(f"the master data was not loaded, nothing was created: {kind}[{index}] ({record}) was refused") from error


def _overlap(one: Access, other: Access) -> bool:
    one_ends_after = other.valid_to is None or one.valid_from < other.valid_to
    other_ends_after = one.valid_to is None or other.valid_from < one.valid_to
    return one_ends_after and other_ends_after


def load_master_data(uow: UnitOfWork, document: MasterDataDocument, catalog: Catalog | None, *, at: datetime) -> dict[str, int]:
    """Create every record of ``document`` in one transaction; any fault undoes all of it.

    A refused record answers its own error (category, code, reason) restated to name where it sits in the document,
    the record's own error below it as its cause."""
    for index, subscriber in enumerate(document.subscriber_accounts):
        with _refused_at("subscriber_accounts", index, subscriber.id):
            create_subscriber_account(uow, subscriber, at=at, catalog=catalog, location=("subscriber_accounts", index))
    for index, contract in enumerate(document.contracts):
        with _refused_at("contracts", index, contract.id):
            create_contract(uow, contract, catalog)
    for index, access in enumerate(document.accesses):
        with _refused_at("accesses", index, f"{access.service_id}/{access.user_id}"):
            create_access(uow, access)
    return {
        "subscriber_accounts": len(document.subscriber_accounts),
        "contracts": len(document.contracts),
        "accesses": len(document.accesses),
    }

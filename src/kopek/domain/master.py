"""Master data: subscriber accounts, their prepaid and postpaid accounts, contracts, accesses.

Records are immutable snapshots; the store loads them and the charging shell
writes back the new versions that the pure core computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType

SubscriberAccountId = NewType("SubscriberAccountId", str)
AccountId = NewType("AccountId", str)
ContractId = NewType("ContractId", str)
ContractItemId = NewType("ContractItemId", str)


class SubscriberAccountStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    LOCKED = "locked"
    CLOSED = "closed"


class AccountStatus(StrEnum):
    """The status of one prepaid or postpaid account: a charge to it is refused unless it is ``active`` (and so is its
    subscriber account)."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    LOCKED = "locked"
    CLOSED = "closed"


class AccountKind(StrEnum):
    """A prepaid account holds credit that is debited; a postpaid account accumulates."""

    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    MIGRATING = "migrating"


@dataclass(frozen=True, slots=True)
class SubscriberAccount:
    id: SubscriberAccountId
    currency: str
    status: SubscriberAccountStatus = SubscriberAccountStatus.ACTIVE
    name: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """A money account of a subscriber account.

    ``balance`` of a prepaid account is the credit left, never below ``floor``.
    ``balance`` of a postpaid account is the amount accumulated since the last
    invoice, never above ``credit_limit`` when one is set (``None``: no limit).
    ``holder_status`` is the status of the owning subscriber account, ``status`` the account's own: a charge needs both
    ``active``.
    ``low_balance_threshold`` (prepaid only; ``None``: never) is the balance under which a
    charge that crosses it notifies ``low_balance``.
    """

    id: AccountId
    subscriber_account_id: SubscriberAccountId
    kind: AccountKind
    currency: str
    balance: Decimal = Decimal(0)
    floor: Decimal = Decimal(0)
    credit_limit: Decimal | None = None
    holder_status: SubscriberAccountStatus = SubscriberAccountStatus.ACTIVE
    low_balance_threshold: Decimal | None = None
    status: AccountStatus = AccountStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ContractItem:
    """Activates one charge plan in a contract."""

    id: ContractItemId
    charge_plan: str


@dataclass(frozen=True, slots=True)
class Contract:
    """A charging contract, valid from ``valid_from`` (inclusive) to ``valid_to`` (exclusive; ``None``: open)."""

    id: ContractId
    subscriber_account_id: SubscriberAccountId
    valid_from: datetime
    valid_to: datetime | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    parent_id: ContractId | None = None
    items: tuple[ContractItem, ...] = ()
    roles: dict[str, AccountId] = field(default_factory=dict)

    def is_valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)


@dataclass(frozen=True, slots=True)
class Access:
    """Maps a (service id, user id) pair to a contract over a validity period."""

    service_id: str
    user_id: str
    contract_id: ContractId
    valid_from: datetime
    valid_to: datetime | None = None
    id: int | None = None
    """The stored access's id (None until it is stored)."""

    def is_valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)

"""Posting charged amounts to accounts: the checks that keep balances within their bounds.

Pure: given account snapshots and the charged items of one rating, return the
account operations and the accounts after them, or raise the refusal.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from kopek.domain.master import Account, AccountId, AccountKind, Contract
from kopek.domain.outcome import ChargedItem, Notification, NotificationKind
from kopek.errors import (
    Code,
    IllegalStateError,
    InvalidConfigurationError,
    PrerequisiteMissingError,
    Reason,
)
from kopek.money import rating_context, to_text


class OperationKind(StrEnum):
    """Why a balance changed. Every change of a balance is one account operation."""

    OPENING = "opening"
    DEBIT = "debit"
    ACCUMULATION = "accumulation"
    CREDIT = "credit"
    ADJUSTMENT = "adjustment"
    REFILL = "refill"
    RECHARGE = "recharge"


@dataclass(frozen=True, slots=True)
class AccountOperation:
    """One change of one balance: ``amount`` is added to the balance (negative for a debit)."""

    account_id: AccountId
    kind: OperationKind
    amount: Decimal
    balance_after: Decimal
    currency: str
    charged_item_index: int | None = None


def one_per_account(operations: Sequence[AccountOperation]) -> list[AccountOperation]:
    """Postings made one after the other, as one per account (in the order of each account's first): their amounts
    added exactly, with the balance after the last. How a rating job's chunk posts its charges."""
    adding = rating_context()
    adding.traps[decimal.Inexact] = True
    merged: dict[AccountId, AccountOperation] = {}
    for operation in operations:
        first = merged.get(operation.account_id)
        merged[operation.account_id] = (
            replace(operation, charged_item_index=None)
            if first is None
            else replace(first, amount=adding.add(first.amount, operation.amount), balance_after=operation.balance_after)
        )
    return list(merged.values())


_STATUS_REFUSALS = {
    "blocked": (Code.ACCOUNT_BLOCKED, Reason.ACCOUNT_BLOCKED),
    "locked": (Code.ACCOUNT_LOCKED, Reason.ACCOUNT_LOCKED),
    "closed": (Code.ACCOUNT_CLOSED, Reason.ACCOUNT_CLOSED),
}
"""The refusal of each status but ``active``, of a subscriber account or of one of its accounts (both enums share the values)."""


def resolve_payers(contract: Contract, charged_items: Sequence[ChargedItem]) -> list[AccountId]:
    """The account that pays each charged item, through the contract's role assignment."""
    payers = []
    for charged in charged_items:
        account_id = contract.roles.get(charged.account_role)
        if account_id is None:
            raise PrerequisiteMissingError(
                code=Code.ACCOUNT_ROLE_UNASSIGNED,
                message=f"contract {contract.id!r} assigns no account to role {charged.account_role!r}",
            )
        payers.append(account_id)
    return payers


def post_charges(
    accounts: Mapping[AccountId, Account], charged_items: Sequence[ChargedItem], payers: Sequence[AccountId]
) -> tuple[dict[AccountId, Account], list[AccountOperation]]:
    """Post each charged item to its payer; refuse the whole item if any posting cannot be made."""
    # Balances may hold more digits than the default 28-digit decimal context keeps.
    with decimal.localcontext(rating_context()):
        return _post_all(accounts, charged_items, payers)


def _post_all(
    accounts: Mapping[AccountId, Account], charged_items: Sequence[ChargedItem], payers: Sequence[AccountId]
) -> tuple[dict[AccountId, Account], list[AccountOperation]]:
    current = dict(accounts)
    operations: list[AccountOperation] = []
    for index, (charged, account_id) in enumerate(zip(charged_items, payers, strict=True)):
        account = current[account_id]
        check_chargeable(account)
        if account.currency != charged.currency:
            raise InvalidConfigurationError(
                code=Code.CURRENCY_MISMATCH,
                reason=Reason.CANNOT_CHARGE_ACCOUNT,
                message=f"plan {charged.charge_plan!r} prices in {charged.currency}, account {account.id!r} holds {account.currency}",
            )
        if charged.amount == 0:
            continue
        updated, operation = _post(account, charged.amount, index)
        current[account_id] = updated
        operations.append(operation)
    return current, operations


def check_chargeable(account: Account) -> None:
    """Refuse when the subscriber account holding ``account`` is blocked, locked or closed, or else ``account`` itself is.

    The subscriber account is checked first: its status covers all its accounts, and says more."""
    refusal = _STATUS_REFUSALS.get(account.holder_status.value)
    if refusal is not None:
        code, reason = refusal
        raise IllegalStateError(
            code=code,
            reason=reason,
            message=f"account {account.id!r} belongs to a subscriber account that is {account.holder_status.value}",
        )
    refusal = _STATUS_REFUSALS.get(account.status.value)
    if refusal is not None:
        code, reason = refusal
        raise IllegalStateError(code=code, reason=reason, message=f"account {account.id!r} is {account.status.value}")


def _post(account: Account, amount: Decimal, index: int) -> tuple[Account, AccountOperation]:
    if account.kind is AccountKind.PREPAID:
        after = account.balance - amount
        if after < account.floor:
            raise IllegalStateError(
                code=Code.INSUFFICIENT_BALANCE,
                reason=Reason.CANNOT_CHARGE_ACCOUNT,
                message=f"prepaid account {account.id!r} holds {account.balance}, cannot cover {amount} above its floor {account.floor}",
            )
        return replace(account, balance=after), AccountOperation(account.id, OperationKind.DEBIT, -amount, after, account.currency, index)
    after = account.balance + amount
    if account.credit_limit is not None and after > account.credit_limit:
        raise IllegalStateError(
            code=Code.CREDIT_LIMIT_REACHED,
            reason=Reason.CANNOT_CHARGE_ACCOUNT,
            message=f"postpaid account {account.id!r} would exceed its credit limit {account.credit_limit}",
        )
    return replace(account, balance=after), AccountOperation(account.id, OperationKind.ACCUMULATION, amount, after, account.currency, index)


def less_reserved(account: Account, reserved: Decimal) -> Account:
    """``account`` with ``reserved`` (live session reservations) taken out of what it can spend.

    A prepaid account's floor rises by the reserved amount; a postpaid account's credit
    limit (when it has one) falls by it. Only for checks: give the result back to
    :func:`with_bounds_of` before storing or showing it.
    """
    if account.kind is AccountKind.PREPAID:
        return replace(account, floor=account.floor + reserved)
    if account.credit_limit is None:
        return account
    return replace(account, credit_limit=account.credit_limit - reserved)


def without_bounds(account: Account) -> Account:
    """``account`` with no floor and no credit limit: posting the usage of a session never refuses.

    The check happened when the usage was reserved; usage beyond its grant is charged
    in full rather than dropped.
    """
    return replace(account, floor=Decimal("-Infinity"), credit_limit=None)


def beyond_bounds(accounts: Mapping[AccountId, Account], operations: Sequence[AccountOperation]) -> list[AccountId]:
    """The accounts that ``operations`` moved and that ended past their bound: a prepaid balance below its floor, a
    postpaid balance above its credit limit; ``accounts`` are the accounts after the operations, with their bounds."""
    moved = sorted({operation.account_id for operation in operations})
    beyond = []
    for account_id in moved:
        account = accounts[account_id]
        if account.kind is AccountKind.PREPAID:
            past = account.balance < account.floor
        else:
            past = account.credit_limit is not None and account.balance > account.credit_limit
        if past:
            beyond.append(account_id)
    return beyond


def with_bounds_of(after: Account, original: Account) -> Account:
    """``after`` (a posting result) with the real floor and credit limit of ``original``."""
    return replace(after, floor=original.floor, credit_limit=original.credit_limit)


def spendable(accounts: Mapping[AccountId, Account], reserved: Mapping[AccountId, Decimal]) -> dict[AccountId, Decimal | None]:
    """What each account can still spend after its live reservations; ``None``: no bound.

    Prepaid: balance − floor − reservations. Postpaid: credit limit − balance − reservations,
    unbounded without a credit limit.
    """
    with decimal.localcontext(rating_context()):
        available: dict[AccountId, Decimal | None] = {}
        for key, account in accounts.items():
            held = reserved.get(key, Decimal(0))
            if account.kind is AccountKind.PREPAID:
                available[key] = account.balance - account.floor - held
            else:
                available[key] = None if account.credit_limit is None else account.credit_limit - account.balance - held
        return available


def spending_refusal(
    amounts: Mapping[AccountId, Decimal], accounts: Mapping[AccountId, Account], available: Mapping[AccountId, Decimal | None]
) -> IllegalStateError | None:
    """The refusal when an amount does not fit what its account can spend; ``None`` when all fit."""
    for payer in sorted(amounts):
        room = available[payer]
        if room is None or amounts[payer] <= room:
            continue
        prepaid = accounts[payer].kind is AccountKind.PREPAID
        return IllegalStateError(
            code=Code.INSUFFICIENT_BALANCE if prepaid else Code.CREDIT_LIMIT_REACHED,
            reason=Reason.CANNOT_CHARGE_ACCOUNT,
            message=f"account {payer!r} can spend {room}, not even the {amounts[payer]} of one step of usage",
        )
    return None


def adjust(account: Account, amount: Decimal, kind: OperationKind) -> tuple[Account, AccountOperation]:
    """An administrative change of a balance (opening, credit, correction), as one account operation.

    A negative adjustment may not take a prepaid balance below its floor; a postpaid
    balance may be corrected either way.
    """
    with decimal.localcontext(rating_context()):
        after = account.balance + amount
    if account.kind is AccountKind.PREPAID and amount < 0 and after < account.floor:
        raise IllegalStateError(
            code=Code.INSUFFICIENT_BALANCE,
            reason=Reason.CANNOT_CHARGE_ACCOUNT,
            message=f"prepaid account {account.id!r} holds {account.balance}; the adjustment would take it below its floor {account.floor}",
        )
    return replace(account, balance=after), AccountOperation(account.id, kind, amount, after, account.currency)


def low_balance_notifications(accounts: Mapping[AccountId, Account], operations: Sequence[AccountOperation]) -> list[Notification]:
    """A ``low_balance`` notification for each prepaid account that ``operations`` took from at or
    above its ``low_balance_threshold`` to below it; ``accounts`` are the accounts after them.

    Told once per crossing: a balance that was already below its threshold tells nothing, and
    a balance raised back to the threshold or above (a refill, a credit) tells again when a
    later charge crosses it. Accounts in ``accounts`` that no operation touched cross nothing.
    """
    with decimal.localcontext(rating_context()):
        moved: dict[AccountId, Decimal] = {}
        for operation in operations:
            moved[operation.account_id] = moved.get(operation.account_id, Decimal(0)) + operation.amount
        crossed = []
        for account_id in sorted(moved):
            account = accounts[account_id]
            threshold = account.low_balance_threshold
            if account.kind is not AccountKind.PREPAID or threshold is None:
                continue
            before = account.balance - moved[account_id]
            if before >= threshold > account.balance:
                crossed.append(low_balance_notification(account, threshold))
        return crossed


def low_balance_notification(account: Account, threshold: Decimal) -> Notification:
    """The ``low_balance`` notification of prepaid ``account`` (its balance after the charge) below ``threshold``."""
    balance, limit = to_text(account.balance), to_text(threshold)
    return Notification(
        NotificationKind.LOW_BALANCE,
        f"prepaid account {account.id!r} holds {balance} {account.currency}, below its low balance threshold {limit}",
        {
            "account_id": account.id,
            "subscriber_account_id": account.subscriber_account_id,
            "threshold": limit,
            "balance": balance,
            "currency": account.currency,
        },
    )

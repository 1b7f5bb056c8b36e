"""Posting charged amounts: prepaid never below its floor, postpaid within its credit limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rating_support import contract

from kopek.domain.accounts import OperationKind, check_chargeable, post_charges, resolve_payers
from kopek.domain.catalog import Output
from kopek.domain.master import Account, AccountId, AccountKind, SubscriberAccountId, SubscriberAccountStatus
from kopek.domain.units import Unit
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, PrerequisiteMissingError, Reason
from kopek.rating.outcome import ChargedItem

PREPAID = AccountId("prepaid-1")
POSTPAID = AccountId("postpaid-1")


def prepaid(balance: str, *, floor: str = "0", status: SubscriberAccountStatus = SubscriberAccountStatus.ACTIVE) -> Account:
    return Account(
        PREPAID,
        SubscriberAccountId("subscriber-1"),
        AccountKind.PREPAID,
        "EUR",
        Decimal(balance),
        floor=Decimal(floor),
        holder_status=status,
    )


def postpaid(balance: str, *, credit_limit: str | None = None, currency: str = "EUR") -> Account:
    limit = Decimal(credit_limit) if credit_limit is not None else None
    return Account(POSTPAID, SubscriberAccountId("subscriber-1"), AccountKind.POSTPAID, currency, Decimal(balance), credit_limit=limit)


def charged(amount: str, *, role: str = "prepaid", currency: str = "EUR") -> ChargedItem:
    return ChargedItem("contract-item-1", "plan", "main", role, Decimal(amount), currency, Decimal(60), Unit.SECONDS, Output.BILLABLE)


def post(account: Account, *amounts: str) -> tuple[Account, list[tuple[OperationKind, Decimal, Decimal]]]:
    """Post ``amounts`` to ``account``; the account after and (kind, amount, balance after) per operation."""
    items = [charged(amount, currency=account.currency) for amount in amounts]
    accounts, operations = post_charges({account.id: account}, items, [account.id] * len(items))
    return accounts[account.id], [(operation.kind, operation.amount, operation.balance_after) for operation in operations]


# ---- prepaid -------------------------------------------------------------------------------


def test_prepaid_is_debited() -> None:
    after, operations = post(prepaid("10.00"), "3.50")

    assert after.balance == Decimal("6.50")
    assert operations == [(OperationKind.DEBIT, Decimal("-3.50"), Decimal("6.50"))]


@pytest.mark.parametrize(
    ("balance", "floor", "charge", "after"),
    [
        pytest.param("10.00", "0", "10.00", "0.00", id="down-to-a-zero-floor"),
        pytest.param("0", "-5.00", "5.00", "-5.00", id="down-to-a-negative-floor"),
    ],
)
def test_prepaid_may_be_debited_down_to_its_floor(balance: str, floor: str, charge: str, after: str) -> None:
    account, _ = post(prepaid(balance, floor=floor), charge)

    assert account.balance == Decimal(after)


@pytest.mark.parametrize(
    ("balance", "floor", "amounts"),
    [
        pytest.param("10.00", "0", ["10.01"], id="one-cent-below-a-zero-floor"),
        pytest.param("0", "-5.00", ["5.01"], id="one-cent-below-a-negative-floor"),
        pytest.param("10.00", "0", ["6.00", "4.01"], id="the-second-item-of-one-rating"),
        pytest.param("-1.00", "0", ["0.01"], id="already-below-its-floor"),
    ],
)
def test_prepaid_is_never_debited_below_its_floor(balance: str, floor: str, amounts: list[str]) -> None:
    with pytest.raises(IllegalStateError) as raised:
        post(prepaid(balance, floor=floor), *amounts)

    assert (raised.value.code, raised.value.reason) == (Code.INSUFFICIENT_BALANCE, Reason.CANNOT_CHARGE_ACCOUNT)


def test_a_negative_amount_credits_a_prepaid_account() -> None:
    after, operations = post(prepaid("1.00"), "-0.50")

    assert after.balance == Decimal("1.50")
    assert operations == [(OperationKind.DEBIT, Decimal("0.50"), Decimal("1.50"))]


# ---- postpaid ------------------------------------------------------------------------------


def test_postpaid_accumulates() -> None:
    after, operations = post(postpaid("100.00"), "20.00", "0.05")

    assert after.balance == Decimal("120.05")
    assert operations == [
        (OperationKind.ACCUMULATION, Decimal("20.00"), Decimal("120.00")),
        (OperationKind.ACCUMULATION, Decimal("0.05"), Decimal("120.05")),
    ]


def test_postpaid_without_a_credit_limit_accumulates_without_bound() -> None:
    after, _ = post(postpaid("0"), "1000000000.00")

    assert after.balance == Decimal("1000000000.00")


def test_postpaid_may_reach_its_credit_limit() -> None:
    after, _ = post(postpaid("100.00", credit_limit="120.00"), "20.00")

    assert after.balance == Decimal("120.00")


def test_postpaid_never_passes_its_credit_limit() -> None:
    with pytest.raises(IllegalStateError) as raised:
        post(postpaid("100.00", credit_limit="120.00"), "20.01")

    assert (raised.value.code, raised.value.reason) == (Code.CREDIT_LIMIT_REACHED, Reason.CANNOT_CHARGE_ACCOUNT)


# ---- refusals before any posting -------------------------------------------------------------


def test_a_charge_in_another_currency_is_refused() -> None:
    account = postpaid("0", currency="USD")

    with pytest.raises(InvalidConfigurationError) as raised:
        post_charges({account.id: account}, [charged("1.00", currency="EUR")], [account.id])

    assert (raised.value.code, raised.value.reason) == (Code.CURRENCY_MISMATCH, Reason.CANNOT_CHARGE_ACCOUNT)


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        pytest.param(SubscriberAccountStatus.BLOCKED, Code.ACCOUNT_BLOCKED, Reason.ACCOUNT_BLOCKED, id="blocked"),
        pytest.param(SubscriberAccountStatus.LOCKED, Code.ACCOUNT_LOCKED, Reason.ACCOUNT_LOCKED, id="locked"),
        pytest.param(SubscriberAccountStatus.CLOSED, Code.ACCOUNT_CLOSED, Reason.ACCOUNT_CLOSED, id="closed"),
    ],
)
@pytest.mark.parametrize("amount", [pytest.param("1.00", id="paying"), pytest.param("0", id="free")])
def test_an_account_whose_holder_is_not_active_is_not_charged(
    status: SubscriberAccountStatus, code: Code, reason: Reason, amount: str
) -> None:
    with pytest.raises(IllegalStateError) as raised:
        post(prepaid("10.00", status=status), amount)

    assert (raised.value.code, raised.value.reason) == (code, reason)


def test_the_holders_status_is_checked_before_the_currency() -> None:
    account = Account(
        PREPAID, SubscriberAccountId("s"), AccountKind.PREPAID, "USD", Decimal(10), holder_status=SubscriberAccountStatus.CLOSED
    )

    with pytest.raises(IllegalStateError) as raised:
        post_charges({PREPAID: account}, [charged("1.00")], [PREPAID])

    assert raised.value.code is Code.ACCOUNT_CLOSED


def test_an_active_holder_is_chargeable() -> None:
    check_chargeable(prepaid("0"))


def test_a_zero_amount_makes_no_operation() -> None:
    after, operations = post(prepaid("10.00"), "0.00")

    assert (after.balance, operations) == (Decimal("10.00"), [])


def test_a_refused_posting_leaves_the_given_accounts_unchanged() -> None:
    accounts = {PREPAID: prepaid("10.00")}

    with pytest.raises(IllegalStateError):
        post_charges(accounts, [charged("6.00"), charged("6.00")], [PREPAID, PREPAID])

    assert accounts == {PREPAID: prepaid("10.00")}


# ---- payers and the balance equation ----------------------------------------------------------


def test_each_charged_item_is_paid_by_the_account_of_its_role() -> None:
    payers = resolve_payers(contract("plan"), [charged("1", role="prepaid"), charged("1", role="postpaid")])

    assert payers == [PREPAID, POSTPAID]


def test_a_role_the_contract_does_not_assign_is_refused() -> None:
    with pytest.raises(PrerequisiteMissingError) as raised:
        resolve_payers(contract("plan"), [charged("1", role="corporate")])

    assert raised.value.code is Code.ACCOUNT_ROLE_UNASSIGNED


CENTS = st.decimals(min_value=Decimal("-5"), max_value=Decimal("50"), places=2, allow_nan=False, allow_infinity=False)


@given(prepaid_amounts=st.lists(CENTS, max_size=8), postpaid_amounts=st.lists(CENTS, max_size=8))
def test_the_balance_after_is_the_balance_before_plus_the_operations(
    prepaid_amounts: list[Decimal], postpaid_amounts: list[Decimal]
) -> None:
    accounts = {PREPAID: prepaid("1000.00"), POSTPAID: postpaid("250.00")}
    items = [charged(str(amount), role="prepaid") for amount in prepaid_amounts] + [
        charged(str(amount), role="postpaid") for amount in postpaid_amounts
    ]
    payers = [PREPAID] * len(prepaid_amounts) + [POSTPAID] * len(postpaid_amounts)

    after, operations = post_charges(accounts, items, payers)

    for account_id, before in accounts.items():
        own = [operation for operation in operations if operation.account_id == account_id]
        assert after[account_id].balance == before.balance + sum((operation.amount for operation in own), Decimal(0))
        assert [operation.balance_after for operation in own][-1:] == ([after[account_id].balance] if own else [])
    assert after[PREPAID].balance == Decimal("1000.00") - sum(prepaid_amounts, Decimal(0))
    assert after[POSTPAID].balance == Decimal("250.00") + sum(postpaid_amounts, Decimal(0))

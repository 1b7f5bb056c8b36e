"""A prepaid account tells ``low_balance`` once each time a charge takes it below its threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import pytest

from kopek.domain.accounts import AccountOperation, OperationKind, low_balance_notifications
from kopek.domain.master import Account, AccountId, AccountKind, SubscriberAccountId
from kopek.rating.outcome import NotificationKind

PREPAID = Account(
    AccountId("carol-prepaid"), SubscriberAccountId("carol"), AccountKind.PREPAID, "EUR", low_balance_threshold=Decimal("5.00")
)


def _debit(account: Account, *amounts: str) -> tuple[Account, list[AccountOperation]]:
    """``account`` after debiting ``amounts`` in turn, and the operations that did it."""
    operations = []
    for amount in amounts:
        account = replace(account, balance=account.balance - Decimal(amount))
        operations.append(AccountOperation(account.id, OperationKind.DEBIT, -Decimal(amount), account.balance, account.currency))
    return account, operations


def _crossings(before: str, *debits: str, account: Account = PREPAID) -> Sequence[object]:
    after, operations = _debit(replace(account, balance=Decimal(before)), *debits)
    return low_balance_notifications({after.id: after}, operations)


def test_a_charge_taking_the_balance_below_the_threshold_tells_low_balance_with_its_figures() -> None:
    after, operations = _debit(replace(PREPAID, balance=Decimal("6.00")), "1.50")

    (note,) = low_balance_notifications({after.id: after}, operations)

    assert note.kind is NotificationKind.LOW_BALANCE
    assert note.data == {
        "account_id": "carol-prepaid",
        "subscriber_account_id": "carol",
        "threshold": "5.00",
        "balance": "4.50",
        "currency": "EUR",
    }
    assert "4.50" in note.message and "5.00" in note.message


@pytest.mark.parametrize(
    ("before", "debits", "told"),
    [
        pytest.param("6.00", ("1.50",), 1, id="above-to-below"),
        pytest.param("5.00", ("0.01",), 1, id="exactly-at-threshold-to-below"),
        pytest.param("6.00", ("1.00",), 0, id="landing-on-the-threshold-is-not-below"),
        pytest.param("4.00", ("1.00",), 0, id="already-below-stays-below"),
        pytest.param("6.00", ("0.60", "0.60"), 1, id="two-postings-of-one-charge-cross-once"),
        pytest.param("6.00", ("0.50",), 0, id="stays-above"),
    ],
)
def test_low_balance_is_told_once_per_crossing(before: str, debits: tuple[str, ...], told: int) -> None:
    assert len(_crossings(before, *debits)) == told


def test_a_balance_raised_above_the_threshold_tells_again_at_the_next_crossing() -> None:
    first = _crossings("6.00", "2.00")  # 4.00: crossed
    still_below = _crossings("4.00", "1.00")  # 3.00: already below
    refilled_then_crossed = _crossings("5.50", "1.00")  # refilled to 5.50, then 4.50: crossed again

    assert (len(first), len(still_below), len(refilled_then_crossed)) == (1, 0, 1)


def test_accounts_without_threshold_postpaid_or_untouched_tell_nothing() -> None:
    no_threshold = replace(PREPAID, low_balance_threshold=None)
    postpaid = replace(PREPAID, kind=AccountKind.POSTPAID)

    assert _crossings("6.00", "2.00", account=no_threshold) == []
    assert _crossings("6.00", "2.00", account=postpaid) == []
    assert low_balance_notifications({PREPAID.id: replace(PREPAID, balance=Decimal("1"))}, []) == []

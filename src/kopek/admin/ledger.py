"""Verifying the ledger: every balance is the sum of its account operations, every reservation is live or settled,
and every charged item is posted by exactly one account operation.

Read in one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so charges that run meanwhile
neither hide nor invent a difference. The streams of the store are walked side by side in key order; a difference
found is data, collected (the first ``LEDGER_DIFFERENCES_REPORTED_MAX``, all of them counted), never a stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.domain.catalog import Dec
from kopek.store.ledger_store import Group, LedgerStore
from kopek.store.schema import account_operations, accounts, charged_items, reservations
from kopek.store.uow import UnitOfWork

Key = TypeVar("Key", str, tuple[str, ...])
Value = TypeVar("Value")


class DifferenceKind(StrEnum):
    BALANCE_NOT_SUM_OF_OPERATIONS = "balance_is_not_the_sum_of_its_operations"
    RESERVATION_OF_ENDED_SESSION = "reservation_of_an_ended_session"
    HOLD_OF_ENDED_SESSION = "hold_of_an_ended_session"
    CHARGED_ITEM_NOT_POSTED = "charged_item_without_account_operation"
    POSTING_WITHOUT_CHARGED_ITEM = "account_operation_without_charged_item"
    POSTING_DIFFERS = "account_operations_differ_from_charged_items"
    COMPENSATION_DIFFERS = "recharge_compensation_differs_from_its_corrections"


class LedgerDifference(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "balance_is_not_the_sum_of_its_operations",
                    "subject": "alice-prepaid",
                    "expected": "7.00",
                    "found": "7.60",
                    "message": "account 'alice-prepaid' holds 7.60, its operations add up to 7.00",
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    kind: DifferenceKind
    """What does not add up (a balance, a reservation, a charged item, ...)."""
    subject: str = Field(description="What differs: an account id, a session id and account, or a charging operation id and account.")
    expected: Dec | None = Field(default=None, description="What the records say it should be (e.g. the sum of the operations).")
    found: Dec | None = Field(default=None, description="What is stored (e.g. the balance).")
    message: str
    """For people; may change between versions."""


class LedgerReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "consistent": True,
                    "accounts": 5,
                    "account_operations": 8,
                    "charged_items": 5,
                    "reservations": 0,
                    "differences_total": 0,
                    "differences": [],
                }
            ]
        },
        frozen=True,
    )

    consistent: bool = Field(description="True when no difference was found.")
    accounts: int = Field(description="Accounts checked.")
    account_operations: int = Field(description="Account operations checked.")
    charged_items: int = Field(description="Charged items checked.")
    reservations: int = Field(description="Reservations checked.")
    differences_total: int = Field(description="Every difference found.")
    differences: list[LedgerDifference] = Field(
        description=f"The differences found, the first {limits.LEDGER_DIFFERENCES_REPORTED_MAX}: balances, then reservations and "
        "holds, then postings."
    )


class _Found:
    """The differences collected so far: the first ones kept, all of them counted."""

    def __init__(self) -> None:
        self.kept: list[LedgerDifference] = []
        self.total = 0

    def add(self, difference: LedgerDifference) -> None:
        self.total += 1
        if len(self.kept) < limits.LEDGER_DIFFERENCES_REPORTED_MAX:
            self.kept.append(difference)


def verify_ledger(engine: sa.Engine) -> LedgerReport:
    """Check the whole ledger in one snapshot; the report lists what differs."""
    found = _Found()
    with UnitOfWork(engine, writes=False, snapshot=True) as uow:
        store = uow.ledger
        _check_balances(store, found)
        _check_sessions(store, found)
        _check_postings(store, found)
        _check_recharges(store, found)
        counts = [store.count(table) for table in (accounts, account_operations, charged_items, reservations)]
    return LedgerReport(
        consistent=found.total == 0,
        accounts=counts[0],
        account_operations=counts[1],
        charged_items=counts[2],
        reservations=counts[3],
        differences_total=found.total,
        differences=found.kept,
    )


def _check_balances(store: LedgerStore, found: _Found) -> None:
    balances = ((account_id, balance) for account_id, _, balance in store.balances())
    sums = ((key[0], total) for key, _, total in store.operation_sums())
    for account_id, balance, total in side_by_side(balances, sums):
        expected = total if total is not None else Decimal(0)
        if balance is None or balance != expected:
            found.add(
                LedgerDifference(
                    kind=DifferenceKind.BALANCE_NOT_SUM_OF_OPERATIONS,
                    subject=account_id,
                    expected=expected,
                    found=balance,
                    message=f"account {account_id!r} holds {balance}, its account operations add up to {expected}"
                    if balance is not None
                    else f"account operations of an unknown account {account_id!r} add up to {expected}",
                )
            )


def _check_sessions(store: LedgerStore, found: _Found) -> None:
    for session_id, account_id, amount, status in store.reservations_of_ended_sessions():
        found.add(
            LedgerDifference(
                kind=DifferenceKind.RESERVATION_OF_ENDED_SESSION,
                subject=f"{session_id}/{account_id}",
                found=amount,
                message=f"session {session_id!r} ended ({status}) but still reserves {amount} of account {account_id!r}",
            )
        )
    for session_id, name, status in store.holds_of_ended_sessions():
        found.add(
            LedgerDifference(
                kind=DifferenceKind.HOLD_OF_ENDED_SESSION,
                subject=f"{session_id}/{name}",
                message=f"session {session_id!r} ended ({status}) but still holds counter {name!r}",
            )
        )


def _check_postings(store: LedgerStore, found: _Found) -> None:
    """Each charge's charged items against the account operations posting them, then each rating job chunk's."""
    kinds = {account_id: kind for account_id, kind, _ in store.balances()}
    for poster, charged_groups, posted_groups in (
        ("operation", store.charged(), store.postings()),
        ("chunk", store.chunk_charged(), store.chunk_postings()),
    ):
        for key, charged, posted in side_by_side(_keyed(charged_groups), _keyed(posted_groups)):
            found_difference = _posting_difference(poster, key, charged, posted, kinds.get(key[1]))
            if found_difference is not None:
                found.add(found_difference)


def _posting_difference(
    poster: str, key: tuple[str, ...], charged: tuple[int, Decimal] | None, posted: tuple[int, Decimal] | None, kind: str | None
) -> LedgerDifference | None:
    """What differs between the charged items of one (``poster``, account) and the account operations posting them, a
    prepaid debit of minus their amount, a postpaid accumulation of it: one account operation per item of a charge's
    ``operation``, one for all the items of a rating job's ``chunk``."""
    poster_id, account_id = key
    subject = f"{poster_id}/{account_id}"
    if posted is None:
        assert charged is not None
        message = f"{charged[0]} charged item(s) of {poster} {poster_id!r} on account {account_id!r} have no account operation"
        return LedgerDifference(kind=DifferenceKind.CHARGED_ITEM_NOT_POSTED, subject=subject, expected=charged[1], message=message)
    if charged is None:
        message = f"{poster} {poster_id!r} posts {posted[1]} to account {account_id!r} without a charged item"
        return LedgerDifference(kind=DifferenceKind.POSTING_WITHOUT_CHARGED_ITEM, subject=subject, found=posted[1], message=message)
    expected = -charged[1] if kind == "prepaid" else charged[1]
    if (charged[0] if poster == "operation" else 1, expected) == posted:
        return None
    message = (
        f"{poster} {poster_id!r} charged {charged[0]} item(s) to account {account_id!r}, {expected} in its balance's terms; "
        f"{posted[0]} account operation(s) post {posted[1]}"
    )
    return LedgerDifference(kind=DifferenceKind.POSTING_DIFFERS, subject=subject, expected=expected, found=posted[1], message=message)


def _check_recharges(store: LedgerStore, found: _Found) -> None:
    """Each recharge's compensating operation on an account is what its correction rows there add up to, in the
    balance's terms (none when they add up to zero)."""
    kinds = {account_id: kind for account_id, kind, _ in store.balances()}
    for key, corrected, compensated in side_by_side(_keyed(store.corrections()), _keyed(store.compensations())):
        recharge_id, account_id = key
        total = corrected[1] if corrected is not None else Decimal(0)
        expected = -total if kinds.get(account_id) == "prepaid" else total
        posted = compensated[1] if compensated is not None else Decimal(0)
        if expected == posted and (compensated is None or compensated[0] == 1):
            continue
        found.add(
            LedgerDifference(
                kind=DifferenceKind.COMPENSATION_DIFFERS,
                subject=f"{recharge_id}/{account_id}",
                expected=expected,
                found=posted,
                message=f"recharge {recharge_id!r} corrects account {account_id!r} by {expected} in its balance's terms; "
                f"its compensating account operation(s) post {posted}",
            )
        )


def _keyed(groups: Iterator[Group]) -> Iterator[tuple[tuple[str, ...], tuple[int, Decimal]]]:
    for key, count, total in groups:
        yield key, (count, total)


def side_by_side(left: Iterator[tuple[Key, Value]], right: Iterator[tuple[Key, Value]]) -> Iterator[tuple[Key, Value | None, Value | None]]:
    """Two streams ordered by key (each key once), walked together: each key with its value on either side (none where
    it is missing)."""
    left_item, right_item = next(left, None), next(right, None)
    while left_item is not None or right_item is not None:
        if right_item is None or (left_item is not None and left_item[0] < right_item[0]):
            assert left_item is not None
            yield left_item[0], left_item[1], None
            left_item = next(left, None)
        elif left_item is None or right_item[0] < left_item[0]:
            yield right_item[0], None, right_item[1]
            right_item = next(right, None)
        else:
            yield left_item[0], left_item[1], right_item[1]
            left_item, right_item = next(left, None), next(right, None)

"""What charging sessions and authorizations share as they resolve a reservation: the order of their locks, the
recording of what they charge, their reservations as a client sees them, and storage faults told as retry later.

Both are rows of one table (:mod:`kopek.store.session_store`): a session's usage and an authorization's capture are
recorded as offline charges that name the row.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa

from kopek.charging.offline import (
    STORAGE_RETRY_AFTER_SECONDS,
    ChargeCommand,
    Charged,
    ChargingContext,
    chargeable_contract_by_id,
    record_charge,
    request_hash,
)
from kopek.charging.results import ChargeResult, ResultOptions
from kopek.charging.session_views import ReservationView
from kopek.domain.accounts import AccountOperation, post_charges, with_bounds_of, without_bounds
from kopek.domain.item import ChargeableItem, TypedItem
from kopek.domain.master import Account, AccountId, Contract
from kopek.errors import Code, TemporaryIllegalStateError
from kopek.money import ZERO, rating_context
from kopek.rating.outcome import CounterKey, RatingOutcome
from kopek.store.counter_journal_store import StoredValue
from kopek.store.database import is_transient, retried_once_if_disconnected
from kopek.store.driver_batch import DriverBatch
from kopek.store.uow import UnitOfWork

Result = TypeVar("Result")

ALL_SECTIONS = ResultOptions(
    charging_process_info=True,
    contract_info=True,
    chargeable_item_info=True,
    account_operations=True,
    account_info=True,
    notifications=True,
)
"""A settled charge keeps every section of its result."""


def locked_for_a_step(uow: UnitOfWork, found: Mapping[str, Any], *, charges: bool) -> tuple[Contract, dict[str, Any]]:
    """Lock the row ``found`` as every step does: its contract first (checked chargeable at the row's consumption date
    when the step charges), then the row itself, read again under its lock; its status is the caller's to check."""
    if charges:
        contract = chargeable_contract_by_id(uow, found["contract_id"], found["consumption_date"])
    else:
        locked = uow.master.contract(found["contract_id"], lock=True)
        assert locked is not None, "a session or an authorization names an existing contract (foreign key)"
        contract = locked
    row = uow.sessions.get(found["id"], lock=True)
    assert row is not None, "a row found is not deleted while live (retention removes ended rows only)"
    return contract, row


def posted_in_full(
    outcome: RatingOutcome, payers: Sequence[AccountId], accounts: Mapping[AccountId, Account]
) -> tuple[list[AccountOperation], dict[AccountId, Account]]:
    """Post ``outcome`` to its payers without the floor or credit-limit check (usage reported, or confirmed at expiry, is
    never dropped): the operations, and the accounts after them with their bounds."""
    posted, operations = post_charges({key: without_bounds(account) for key, account in accounts.items()}, outcome.charged_items, payers)
    return operations, {key: with_bounds_of(account, accounts[key]) for key, account in posted.items()}


def record_settlement(
    uow: UnitOfWork,
    context: ChargingContext,
    *,
    catalog_version: int,
    row_id: str,
    contract: Contract,
    item: TypedItem,
    outcome: RatingOutcome,
    payers: list[AccountId],
    operations: list[AccountOperation],
    accounts: dict[AccountId, Account],
    stored: Mapping[CounterKey, StoredValue | None] | None = None,
    batch: DriverBatch | None = None,
) -> ChargeResult:
    """Record what a session's usage or an authorization's capture charged as an offline charge naming the row
    (``stored``: the counter rows its changes replace, when the caller read them; ``batch``: where to queue the writes
    instead of sending them now; see :func:`record_charge`)."""
    raw = ChargeableItem(item.item_class.name, item.consumption_date, item.service_id, item.user_id, dict(item.properties))
    charged = Charged(
        ChargeCommand(raw, ALL_SECTIONS),
        request_hash(item),
        context.clock(),
        context.new_id(),
        catalog_version,
        contract,
        item,
        outcome,
        payers,
        operations,
        accounts,
        session_id=row_id,
    )
    return record_charge(uow, charged, stored=stored, batch=batch)


def reservation_views(
    uow: UnitOfWork, row_id: str, *, rows: Sequence[Mapping[str, Any]] | None = None
) -> tuple[list[ReservationView], Decimal]:
    """The live reservations of a session or an authorization (``rows``, when already read), and their sum."""
    reservations = [
        ReservationView(account_id=r["account_id"], amount=r["amount"], currency=r["currency"], expires_at=r["expires_at"])
        for r in (rows if rows is not None else uow.sessions.reservations_of(row_id))
    ]
    with decimal.localcontext(rating_context()):
        return reservations, sum((reservation.amount for reservation in reservations), ZERO)


def guarded(work: Callable[[], Result], *, busy: str) -> Result:
    """Run ``work``; a transient storage fault (a lock timeout, a serialization failure) is told as retry later, with
    ``busy`` naming what was busy. A connection that broke before the commit was sent is retried once on a fresh one
    (:func:`kopek.store.database.retried_once_if_disconnected`)."""
    try:
        return retried_once_if_disconnected(work)
    except sa.exc.OperationalError as error:
        if not is_transient(error):
            raise
        raise TemporaryIllegalStateError(
            code=Code.STORAGE_BUSY, message=f"{busy} is busy; retry", retry_after_seconds=STORAGE_RETRY_AFTER_SECONDS
        ) from error

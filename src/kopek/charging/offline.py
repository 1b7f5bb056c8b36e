"""Offline charging of one chargeable item: the use case and its fixed order of checks.

The steps, each of which may refuse the item (the first failing step decides
the error): item class exists -> properties valid -> access found at the
consumption date -> contract valid at that date -> contract not locked or
migrating -> rate -> payer accounts chargeable and able to cover. Then one
commit stores the operation, charged items, account operations, balances,
counters and notifications together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek.charging.rating_state import load_rating_state, uses_shared_counters
from kopek.charging.results import (
    AccountOperationView,
    AccountView,
    ChargeableItemInfo,
    ChargedItemView,
    ChargeResult,
    ChargingProcessInfo,
    ContractInfo,
    NotificationView,
    ResultOptions,
)
from kopek.clock import Clock, IdSource
from kopek.domain.accounts import (
    AccountOperation,
    OperationKind,
    less_reserved,
    low_balance_notifications,
    one_per_account,
    post_charges,
    resolve_payers,
    with_bounds_of,
)
from kopek.domain.catalog import Catalog
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import Account, AccountId, Contract, ContractStatus
from kopek.errors import (
    AlreadyExistsError,
    Code,
    IllegalStateError,
    KopekError,
    PrerequisiteMissingError,
    Reason,
    TemporaryIllegalStateError,
)
from kopek.money import ZERO, ExactInput, exact
from kopek.rating.grant import added_holds
from kopek.rating.outcome import ChargedItem, CounterChange, CounterKey, RatingOutcome
from kopek.rating.rate import rate_item
from kopek.rating.state import CounterLife, RatingState
from kopek.store.catalog_cache import CatalogCache
from kopek.store.charge_store import ChargeWrites
from kopek.store.counter_journal_store import StoredValue, journaled
from kopek.store.database import is_transient, retried_once_if_disconnected
from kopek.store.driver_batch import DriverBatch
from kopek.store.kept_connections import KeptConnections
from kopek.store.uow import UnitOfWork

MIGRATION_RETRY_AFTER_SECONDS = 30
STORAGE_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True, slots=True)
class ChargeCommand:
    item: ChargeableItem
    options: ResultOptions = field(default_factory=ResultOptions)
    idempotency_key: str | None = None
    sender_job_id: str | None = None
    cdr_id: str | None = None
    """The stored CDR this charge rates (batch rating): the charge leaves no operation row, the CDR's outcome records
    it, so a CDR id never meets a client's idempotency key; None for every other charge."""


@dataclass(frozen=True, slots=True)
class Charged:
    """Everything one successful charge computed, before it is stored."""

    command: ChargeCommand
    digest: str | None
    """The request hash; ``None`` for a stored CDR's charge, which has no operation row (its outcome is its record)."""
    now: datetime
    operation_id: str
    catalog_version: int
    contract: Contract
    item: TypedItem
    outcome: RatingOutcome
    payers: list[AccountId]
    operations: list[AccountOperation]
    accounts: dict[AccountId, Account]
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChargingContext:
    """What the shell passes to charging: where state lives, the catalog, time and ids; ``connections`` keeps the
    connections of the hot path (an offline charge, a session step) between its units of work (none: each takes its
    connection from the pool)."""

    engine: sa.Engine
    catalogs: CatalogCache
    clock: Clock
    new_id: IdSource
    connections: KeptConnections | None = None


def charge(command: ChargeCommand, context: ChargingContext) -> ChargeResult:
    """Charge one item, all or nothing; a retry with the same idempotency key charges nothing more."""
    try:
        return retried_once_if_disconnected(lambda: _charge_once(command, context))
    except sa.exc.OperationalError as error:
        if not is_transient(error):
            raise
        raise TemporaryIllegalStateError(
            code=Code.STORAGE_BUSY, message="the account is busy; retry", retry_after_seconds=STORAGE_RETRY_AFTER_SECONDS
        ) from error
    except sa.exc.IntegrityError:
        # Another call with the same idempotency key committed first: answer with its result.
        if command.idempotency_key is None:
            raise
        with UnitOfWork(context.engine, writes=False) as uow:
            replay = _replay(uow, command, request_hash(typed_item(context.catalogs.current(uow).catalog, command)))
        if replay is None:
            raise
        return replay


def _charge_once(command: ChargeCommand, context: ChargingContext) -> ChargeResult:
    with UnitOfWork(context.engine, commit_with_last_batch=True, kept=context.connections) as uow:
        writes = uow.batch()
        result = charge_in(uow, command, context, writes=writes)
        # On PostgreSQL the writes and COMMIT go together: a charge is one round trip to read, one to write and commit.
        uow.commit_with(writes)
        return result


def charge_in(uow: UnitOfWork, command: ChargeCommand, context: ChargingContext, *, writes: DriverBatch | None = None) -> ChargeResult:
    """Charge one item inside ``uow`` without committing it (batch rating commits the CDR's status with it).

    One batch of statements reads everything the charge needs with its locks, one more writes what it changed
    (:mod:`kopek.store.charge_store`); contracts whose plans share counters take the general path. Given ``writes``,
    the writes are queued there for the caller to send (a replay queues none)."""
    catalog = context.catalogs.current(uow)
    typed = typed_item(catalog.catalog, command)
    digest = request_hash(typed)
    if uses_shared_counters(catalog.catalog):
        return _charge_in_general(uow, command, context, catalog.version, typed, digest, writes)
    state = uow.charge.read(
        uow.batch(), service_id=typed.service_id, user_id=typed.user_id, at=typed.consumption_date, idempotency_key=command.idempotency_key
    )
    replay = replayed(command, digest, state.replay)
    if replay is not None:
        return replay
    if state.contract is None:
        raise access_not_found(typed)
    contract = state.contract
    check_contract_chargeable(contract, typed.consumption_date)
    rating_state = RatingState(contract, state.counters, state.lives, state.parent, held=added_holds(state.holds))
    outcome = rate_item(catalog.catalog, rating_state, typed)
    payers = resolve_payers(contract, outcome.charged_items)
    accounts_before = {key: state.accounts[key] for key in sorted(set(payers)) if key in state.accounts}
    operations, accounts_after = post_to_accounts(outcome, payers, accounts_before, state.reserved)
    now = context.clock()
    charged = Charged(command, digest, now, context.new_id(), catalog.version, contract, typed, outcome, payers, operations, accounts_after)
    stored = stored_rows(state.counters, state.lives, outcome.counter_changes)
    return record_charge(uow, charged, stored=stored, batch=writes).select(command.options)


def _charge_in_general(
    uow: UnitOfWork,
    command: ChargeCommand,
    context: ChargingContext,
    version: int,
    typed: TypedItem,
    digest: str,
    writes: DriverBatch | None,
) -> ChargeResult:
    """The charge of a contract whose plans may use shared counters: those are locked (created if missing) before the
    accounts, a statement at a time."""
    catalog = context.catalogs.current(uow).catalog
    replay = _replay(uow, command, digest)
    if replay is not None:
        return replay
    contract = chargeable_contract(uow, typed)
    outcome = rate_item(catalog, load_rating_state(uow, catalog, contract), typed)
    payers = resolve_payers(contract, outcome.charged_items)
    accounts_before = uow.master.lock_accounts(payers)
    operations, accounts_after = post_to_accounts(outcome, payers, accounts_before, uow.sessions.reserved(accounts_before))
    now = context.clock()
    charged = Charged(command, digest, now, context.new_id(), version, contract, typed, outcome, payers, operations, accounts_after)
    return record_charge(uow, charged, batch=writes).select(command.options)


def stored_rows(
    counters: Mapping[CounterKey, ExactInput], lives: Mapping[CounterKey, CounterLife], changes: Iterable[CounterChange]
) -> dict[CounterKey, StoredValue | None]:
    """The stored rows that ``changes`` replace, from the state the charge read (none where there was no row): what
    the counter journal records."""
    return {
        change.key: StoredValue(change.unit.value, exact(counters[change.key]), lives[change.key]) if change.key in counters else None
        for change in changes
    }


def post_to_accounts(
    outcome: RatingOutcome, payers: list[AccountId], accounts_before: dict[AccountId, Account], reserved: Mapping[AccountId, Decimal]
) -> tuple[list[AccountOperation], dict[AccountId, Account]]:
    """Post ``outcome`` to its payers (``accounts_before``, locked, in id order): the operations and the accounts after them."""
    # Live session reservations hold part of the money: an offline charge may not spend it.
    spendable = {key: less_reserved(account, reserved.get(key, ZERO)) for key, account in accounts_before.items()}
    posted, operations = post_charges(spendable, outcome.charged_items, payers)
    return operations, {key: with_bounds_of(account, accounts_before[key]) for key, account in posted.items()}


def typed_item(catalog: Catalog, command: ChargeCommand) -> TypedItem:
    """The command's item checked and typed against its class in ``catalog``."""
    item_class = catalog.item_class(command.item.item_class)
    if item_class is None:
        raise PrerequisiteMissingError(code=Code.ITEM_CLASS_UNKNOWN, message=f"unknown chargeable item class {command.item.item_class!r}")
    return type_item(item_class, command.item)


def _replay(uow: UnitOfWork, command: ChargeCommand, digest: str) -> ChargeResult | None:
    if command.idempotency_key is None:
        return None
    return replayed(command, digest, uow.charging.operation_by_key(command.idempotency_key))


def replayed(command: ChargeCommand, digest: str, stored: tuple[str, str] | None) -> ChargeResult | None:
    """The first result of a retry, from the ``(request hash, result)`` stored under its key; refused if the item differs."""
    if stored is None:
        return None
    stored_hash, stored_result = stored
    if stored_hash != digest:
        message = f"idempotency key {command.idempotency_key!r} was already used for a different item"
        raise AlreadyExistsError(code=Code.IDEMPOTENCY_KEY_REUSED, message=message)
    return ChargeResult.model_validate_json(stored_result).select(command.options, replayed=True)


def chargeable_contract(uow: UnitOfWork, item: TypedItem) -> Contract:
    """The contract that the item's access selects at its consumption date, locked, checked chargeable."""
    access = uow.master.find_access(item.service_id, item.user_id, item.consumption_date)
    if access is None:
        raise access_not_found(item)
    return chargeable_contract_by_id(uow, access.contract_id, item.consumption_date)


def access_not_found(item: TypedItem) -> PrerequisiteMissingError:
    return PrerequisiteMissingError(
        code=Code.ACCESS_NOT_FOUND,
        reason=Reason.NOT_AUTHORIZED,
        message=f"no access for service {item.service_id!r} and user {item.user_id!r} at {item.consumption_date.isoformat()}",
    )


def chargeable_contract_by_id(uow: UnitOfWork, contract_id: str, at: datetime) -> Contract:
    """Contract ``contract_id`` locked (the first lock of every charging unit of work), checked chargeable at ``at``."""
    contract = uow.master.contract(contract_id, lock=True)
    assert contract is not None, "an access or a session always names an existing contract (foreign key)"
    check_contract_chargeable(contract, at)
    return contract


def check_contract_chargeable(contract: Contract, at: datetime) -> None:
    """Refuse a contract out of its validity period at ``at``, locked by a recharging operation, or migrating."""
    if not contract.is_valid_at(at):
        raise IllegalStateError(
            code=Code.CONTRACT_OUT_OF_VALIDITY,
            reason=Reason.OUT_OF_VALIDITY_PERIOD,
            message=f"contract {contract.id!r} is not valid at {at.isoformat()}",
        )
    if contract.status is ContractStatus.LOCKED:
        raise IllegalStateError(
            code=Code.CONTRACT_LOCKED, reason=Reason.RECHARGING, message=f"contract {contract.id!r} is locked by a recharging operation"
        )
    if contract.status is ContractStatus.MIGRATING:
        raise TemporaryIllegalStateError(
            code=Code.CONTRACT_MIGRATING,
            message=f"contract {contract.id!r} is being migrated; retry later",
            retry_after_seconds=MIGRATION_RETRY_AFTER_SECONDS,
        )


def request_hash(item: TypedItem) -> str:
    """A digest of what identifies a charge request, to tell a retry from a different item.

    Computed on the typed item, so ``90`` and ``"90"``, or one instant written with two
    offsets, are the same request.
    """
    return hashlib.sha256(request_text(item).encode()).hexdigest()


def request_text(item: TypedItem) -> str:
    """The canonical text of a charge request that :func:`request_hash` digests."""
    canonical = {
        "item_class": item.item_class.name,
        "consumption_date": item.consumption_date.astimezone(UTC).isoformat(),
        "service_id": item.service_id,
        "user_id": item.user_id,
        "properties": {name: canonical_value(value) for name, value in sorted(item.properties.items())},
    }
    return json.dumps(canonical, sort_keys=True)


def canonical_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def _result(charged: Charged) -> ChargeResult:
    operation_id, contract, outcome = charged.operation_id, charged.contract, charged.outcome
    return ChargeResult(
        operation_id=operation_id,
        charging_process_info=_process_info(charged),
        contract_info=ContractInfo(
            contract_id=contract.id,
            subscriber_account_id=contract.subscriber_account_id,
            status=contract.status.value,
            valid_from=contract.valid_from,
            valid_to=contract.valid_to,
            parent_id=contract.parent_id,
        ),
        chargeable_item_info=_item_info(charged.item),
        charged_items=[
            ChargedItemView(**charged_item_fields(item_charged, payer))
            for item_charged, payer in zip(outcome.charged_items, charged.payers, strict=True)
        ],
        account_operations=[
            AccountOperationView(
                account_id=operation.account_id,
                kind=operation.kind.value,
                amount=operation.amount,
                balance_after=operation.balance_after,
                currency=operation.currency,
            )
            for operation in charged.operations
        ],
        account_info=[account_view(account) for account in charged.accounts.values()],
        notifications=[NotificationView(kind=note.kind.value, message=note.message, data=note.data) for note in outcome.notifications],
    )


def _process_info(charged: Charged) -> ChargingProcessInfo:
    command = charged.command
    return ChargingProcessInfo(
        operation_id=charged.operation_id,
        catalog_version=charged.catalog_version,
        charged_at=charged.now,
        sender_job_id=command.sender_job_id,
        idempotency_key=command.idempotency_key if command.cdr_id is None else command.cdr_id,
        replayed=False,
    )


def _item_info(item: TypedItem) -> ChargeableItemInfo:
    return ChargeableItemInfo(
        item_class=item.item_class.name,
        consumption_date=item.consumption_date,
        service_id=item.service_id,
        user_id=item.user_id,
        properties={name: canonical_value(value) for name, value in item.properties.items()},
    )


def charged_item_fields(charged: ChargedItem, payer: AccountId) -> dict[str, Any]:
    """What a charged item's view shows of ``charged``, paid by ``payer`` (a charge's result, a quote)."""
    return {
        "contract_item_id": charged.contract_item_id,
        "charge_plan": charged.charge_plan,
        "charge": charged.charge,
        "account_role": charged.account_role,
        "account_id": payer,
        "amount": charged.amount,
        "currency": charged.currency,
        "quantity": charged.quantity,
        "quantity_unit": charged.quantity_unit.value if charged.quantity_unit else None,
        "output": charged.output.value,
    }


def account_view(account: Account) -> AccountView:
    return AccountView(
        account_id=account.id,
        subscriber_account_id=account.subscriber_account_id,
        kind=account.kind.value,
        currency=account.currency,
        balance=account.balance,
        floor=account.floor,
        credit_limit=account.credit_limit,
        low_balance_threshold=account.low_balance_threshold,
        status=account.status,
    )


def record_charge(
    uow: UnitOfWork,
    charged: Charged,
    *,
    stored: Mapping[CounterKey, StoredValue | None] | None = None,
    batch: DriverBatch | None = None,
) -> ChargeResult:
    """Store one computed charge (operation, charged items, balances, counters, notifications) in one batch of
    statements; return its full result. ``stored``: the counter rows its changes replace, when the caller read them
    (else they are read here, for the counter journal). Given a ``batch``, the writes are queued in it, for the caller
    to send with its own."""
    # Here rather than in charge_in: session usage settles through this function too.
    charged = with_low_balance(charged)
    result = _result(charged)
    rows = ChargeRows()
    rows.add(charged, result)
    if stored is None:
        stored = uow.counter_journal.stored({change.key for _, _, change in rows.journal if journaled(change)})
    uow.charge.write(
        batch if batch is not None else uow.batch(),
        ChargeWrites(
            operations=rows.operations,
            charged_items=rows.charged_items,
            account_operations=rows.account_operations,
            balances=rows.balances,
            counter_changes=rows.counter_changes.values(),
            notifications=rows.notifications,
            exported_items=rows.exported_items,
            journal=rows.journal,
            stored=stored,
        ),
        run=batch is None,
    )
    return result


def with_low_balance(charged: Charged) -> Charged:
    """``charged`` with a ``low_balance`` notification for each prepaid balance its postings took below its threshold."""
    low_balance = low_balance_notifications(charged.accounts, charged.operations)
    if not low_balance:
        return charged
    return replace(charged, outcome=charged.outcome._replace(notifications=(*charged.outcome.notifications, *low_balance)))


def cdr_result(charged: Charged) -> ChargeResult:
    """What a rating job keeps of a CDR's computed charge: its operation id, and no section (its outcome records it, its
    charged items, account operations and notifications are written as rows, its item is the stored CDR, and nobody
    reads its result back), so that a job builds no view it would drop (docs/batch.md, "What a charged CDR leaves")."""
    return ChargeResult(operation_id=charged.operation_id)


@dataclass(slots=True)
class ChargeRows:
    """The rows of one or more computed charges, gathered to be written together (batch rating writes a chunk at once).

    Balances and counters keep only their last value per account or counter: charges
    are added in the order they were computed, each from the state the previous left.
    """

    operations: list[dict[str, Any]] = field(default_factory=list)
    charged_items: list[dict[str, Any]] = field(default_factory=list)
    account_operations: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[AccountId, Decimal] = field(default_factory=dict)
    counter_changes: dict[CounterKey, CounterChange] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    exported_items: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)
    journal: list[tuple[str, datetime, CounterChange]] = field(default_factory=list)
    """Every counter change in the order made, with its operation: the counter journal (docs/recharging.md)."""

    def add(self, charged: Charged, result: ChargeResult) -> None:
        command, contract, item, outcome, now = charged.command, charged.contract, charged.item, charged.outcome, charged.now
        operation_id = result.operation_id
        if command.cdr_id is None:
            # A stored CDR's charge has no operation row: its outcome, written by the job, records it.
            self.operations.append(
                {
                    "id": operation_id,
                    "idempotency_key": command.idempotency_key,
                    "request_hash": charged.digest,
                    "contract_id": contract.id,
                    "subscriber_account_id": contract.subscriber_account_id,
                    "consumption_date": item.consumption_date,
                    "created_at": now,
                    "sender_job_id": command.sender_job_id,
                    "session_id": charged.session_id,
                    # What a retry under the key answers, and what a recharge charges again.
                    "result": result.model_dump_json(),
                }
            )
        self.charged_items.extend(
            charged_row(operation_id, contract, item, item_charged, payer)
            for item_charged, payer in zip(outcome.charged_items, charged.payers, strict=True)
        )
        for operation in charged.operations:
            self.balances[operation.account_id] = charged.accounts[operation.account_id].balance
            self.account_operations.append(_account_operation_row(operation, operation_id, now))
        self.counter_changes.update((change.key, change) for change in outcome.counter_changes)
        self.journal.extend((operation_id, now, change) for change in outcome.counter_changes)
        self.notifications.extend(
            {
                "operation_id": operation_id,
                "contract_id": contract.id,
                "kind": note.kind.value,
                "message": note.message,
                "data": note.data,
                "created_at": now,
            }
            for note in outcome.notifications
        )
        if command.options.export_chargeable_item:
            assert result.chargeable_item_info is not None
            self.exported_items.append((operation_id, result.chargeable_item_info.model_dump(mode="json"), now))

    def post_as_chunk(self, chunk_id: str) -> None:
        """Make these rows a rating job's chunk: each charged item names the chunk, and the account operations become one
        per account, which names the chunk instead of an operation: their amounts added (exactly), the balance and the
        instant of the last (docs/batch.md)."""
        for row in self.charged_items:
            row["chunk_id"] = chunk_id
        rows = self.account_operations
        posted = [
            AccountOperation(row["account_id"], OperationKind(row["kind"]), row["amount"], row["balance_after"], row["currency"])
            for row in rows
        ]
        last_at = {row["account_id"]: row["created_at"] for row in rows}
        self.account_operations = [
            _account_operation_row(operation, None, last_at[operation.account_id]) | {"chunk_id": chunk_id}
            for operation in one_per_account(posted)
        ]


def write_charge_rows(uow: UnitOfWork, rows: ChargeRows) -> None:
    """Store gathered charges with one multi-row statement per table."""
    uow.charging.insert_operations(rows.operations)
    uow.charging.insert_charged_items(rows.charged_items)
    uow.master.set_balances(rows.balances)
    uow.master.insert_account_operation_rows(rows.account_operations)
    uow.counter_journal.record(rows.journal)
    uow.counters.write(rows.counter_changes.values())
    uow.charging.insert_notifications(rows.notifications)
    for operation_id, exported, at in rows.exported_items:
        uow.charging.insert_exported_item(operation_id=operation_id, item=exported, at=at)


def _account_operation_row(operation: AccountOperation, operation_id: str | None, at: datetime) -> dict[str, Any]:
    return {
        "account_id": operation.account_id,
        "operation_id": operation_id,
        "kind": operation.kind.value,
        "amount": operation.amount,
        "balance_after": operation.balance_after,
        "currency": operation.currency,
        "created_at": at,
    }


def charged_row(operation_id: str, contract: Contract, item: TypedItem, charged: ChargedItem, payer: str) -> dict[str, Any]:
    """The stored row of one charged item of an operation (a recharge writes its new rows with it too)."""
    return {
        "operation_id": operation_id,
        "contract_id": contract.id,
        "item_class": item.item_class.name,
        **charged_item_fields(charged, AccountId(payer)),
        "consumption_date": item.consumption_date,
    }


def error_notifications(error: KopekError) -> list[NotificationView]:
    """The notifications an error carries (e.g. from a ``no_access`` node), for ``notifications_on_error``."""
    return [NotificationView(kind=note.kind.value, message=note.message, data=note.data) for note in error.notifications]

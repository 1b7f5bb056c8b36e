"""A recharge: the usage of one contract since a restoration point charged again with a chosen catalog version.

Three transactions. The first locks the contract (status ``locked``: charging it meanwhile is
refused with ``ILLEGAL_STATE``, reason ``RECHARGING``) and records the recharge as ``running``.
The second does all the work under the contract's row lock and commits it with the unlock:
the restoration point, every item charged again in consumption order, the corrections of the
items whose charged items differ (the standing ones marked superseded, a reversal row of each
and the new rows), one compensating account operation per account whose balance changes,
the counters and the counter journal. Should it fail, the third unlocks the contract and
records the failure; nothing of the second stays. Since the work is one transaction taken
under the contract's lock, a recharge interrupted before it committed (a killed process) is
simply taken over by the next recharge of the contract.
"""

from __future__ import annotations

import decimal
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kopek import limits
from kopek.admin.catalog import stored_version
from kopek.batch.columnar_rating import PlanCache
from kopek.charging.offline import ChargingContext, charged_row
from kopek.charging.rating_state import shared_counters_of
from kopek.domain.accounts import OperationKind, adjust, less_reserved, resolve_payers, with_bounds_of
from kopek.domain.catalog import Catalog, RefillBonus
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import AccountId, AccountKind, Contract, ContractStatus
from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey
from kopek.domain.refills import StoredCounter, bonus_counter, replayed_bonus_change
from kopek.domain.units import Unit
from kopek.errors import (
    Code,
    DoesNotExistError,
    IllegalStateError,
    InvalidConfigurationError,
    InvalidError,
    KopekError,
    PrerequisiteMissingError,
    Reason,
    TemporaryIllegalStateError,
)
from kopek.money import ZERO, rating_context
from kopek.rating.rate import rate_item
from kopek.rating.state import RatingState
from kopek.recharging.columnar import NotColumnar, replay_columnar
from kopek.recharging.replay import Replay, apply_changes
from kopek.recharging.restoration import Replayed, ReplayedBonus, RestorationPoint, restoration_point
from kopek.recharging.views import Compensation, PricingPath, RechargeResult, RefusedItem
from kopek.store.catalog_cache import CatalogVersion
from kopek.store.counter_journal_store import StoredValue
from kopek.store.recharge_store import DONE, FAILED, RUNNING
from kopek.store.uow import UnitOfWork

RECHARGE_RETENTION_DAYS_DEFAULT = 93
"""How far back a restoration point may be taken by default: about three months (``KOPEK_RECHARGE_RETENTION_DAYS``)."""
RETENTION_VARIABLE = "KOPEK_RECHARGE_RETENTION_DAYS"
MIGRATION_RETRY_AFTER_SECONDS = 30


def retention_days(explicit: int | None = None) -> int:
    """The retention window of restoration points, in days: ``explicit``, else ``KOPEK_RECHARGE_RETENTION_DAYS``, else the
    default; INVALID outside 1 to ``RECHARGE_RETENTION_DAYS_MAX``."""
    text = str(explicit) if explicit is not None else os.environ.get(RETENTION_VARIABLE)
    if text is None:
        return RECHARGE_RETENTION_DAYS_DEFAULT
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= limits.RECHARGE_RETENTION_DAYS_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED,
            message=f"the retention window of restoration points is 1 to {limits.RECHARGE_RETENTION_DAYS_MAX} days, not {text!r}",
        )
    return days


@dataclass(frozen=True, slots=True)
class RechargeCommand:
    """Recharge ``contract_id`` from ``from_date`` with catalog ``catalog_version`` (``None``: the newest)."""

    contract_id: str
    from_date: datetime
    catalog_version: int | None = None


@dataclass(frozen=True, slots=True)
class RechargeRun:
    """Who asks, the retention window, and what a mass recharging job adds: its id, the catalog it resolved once,
    and what it commits with each contract's recharge (its partition done)."""

    actor: str
    retention_days: int
    job_id: str | None = None
    catalog: CatalogVersion | None = None
    with_commit: Callable[[UnitOfWork], None] | None = None
    paths: tuple[PricingPath, ...] = (PricingPath.ROW,)
    """The pricing paths to try, in order: the row path always works and is the default, being the faster
    (docs/recharging.md); ``(COLUMNAR, ROW)`` tries the vectorized path first."""
    plans: PlanCache = field(default_factory=PlanCache)
    """The plans compiled for the vectorized path (a job shares them between its contracts)."""


def recharge(command: RechargeCommand, context: ChargingContext, run: RechargeRun) -> RechargeResult:
    """Recharge one contract, all or nothing (see the module's docstring)."""
    if command.from_date.tzinfo is None:
        raise InvalidError(code=Code.REQUEST_INVALID, message="the restoration date must carry a time zone offset")
    recharge_id = f"recharge-{context.new_id()}"
    catalog = _lock(command, context, run, recharge_id)
    try:
        with UnitOfWork(context.engine) as uow:
            result = recharge_in(uow, command, catalog, recharge_id, context=context, run=run)
            if run.with_commit is not None:
                run.with_commit(uow)
            uow.commit()
        return result
    except BaseException as error:
        _unlock_failed(command.contract_id, recharge_id, error, context)
        raise


def _lock(command: RechargeCommand, context: ChargingContext, run: RechargeRun, recharge_id: str) -> CatalogVersion:
    with UnitOfWork(context.engine) as uow:
        contract = uow.master.contract(command.contract_id, lock=True)
        if contract is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {command.contract_id!r} does not exist")
        if contract.status is ContractStatus.MIGRATING:
            raise TemporaryIllegalStateError(
                code=Code.CONTRACT_MIGRATING,
                message=f"contract {contract.id!r} is being migrated; recharge it once the migration ends",
                retry_after_seconds=MIGRATION_RETRY_AFTER_SECONDS,
            )
        if contract.status is ContractStatus.LOCKED and not uow.recharges.running_of(contract.id):
            raise IllegalStateError(
                code=Code.CONTRACT_LOCKED,
                reason=Reason.RECHARGING,
                message=f"contract {contract.id!r} is locked and no recharge runs on it",
            )
        catalog = run.catalog or _catalog(uow, command.catalog_version, context)
        uow.contract_states.set_status([contract.id], before=[ContractStatus.ACTIVE, ContractStatus.LOCKED], after=ContractStatus.LOCKED)
        uow.recharges.insert(
            {
                "id": recharge_id, "contract_id": contract.id, "job_id": run.job_id, "from_date": command.from_date,
                "catalog_version": catalog.version, "state": RUNNING, "actor": run.actor, "created_at": context.clock(),
            }
        )  # fmt: skip
        uow.commit()
    return catalog


def _catalog(uow: UnitOfWork, version: int | None, context: ChargingContext) -> CatalogVersion:
    return context.catalogs.current(uow) if version is None else stored_version(uow, version)


def _unlock_failed(contract_id: str, recharge_id: str, error: BaseException, context: ChargingContext) -> None:
    """The recharge failed: the contract unlocked and the recharge marked failed, in a transaction of its own."""
    found = error.as_dict() if isinstance(error, KopekError) else {"code": Code.UNEXPECTED_FAULT.value, "message": type(error).__name__}
    with UnitOfWork(context.engine) as uow:
        uow.master.contract(contract_id, lock=True)
        uow.contract_states.set_status([contract_id], before=[ContractStatus.LOCKED], after=ContractStatus.ACTIVE)
        uow.recharges.update(recharge_id, {"state": FAILED, "finished_at": context.clock(), "result": json.dumps(found)})
        uow.commit()


def recharge_in(
    uow: UnitOfWork, command: RechargeCommand, catalog: CatalogVersion, recharge_id: str, *, context: ChargingContext, run: RechargeRun
) -> RechargeResult:
    """The work of a recharge inside ``uow``, which the caller commits: everything but the lock."""
    now = context.clock()
    contract = uow.master.contract(command.contract_id, lock=True)
    assert contract is not None, "the contract was there when the recharge locked it, and contracts are not deleted"
    _check_rechargeable(uow, contract, catalog.catalog, context)
    point = restoration_point(uow, contract.id, command.from_date, now=now, retention_days=run.retention_days)
    _check_live_sessions_charged_nothing_since(uow, contract, point)
    stored = stored_counters(uow, contract.id)
    replay, path = _replay(uow, catalog, contract, restored_counters(stored, point), point.operations, run)
    corrections = _corrections(uow, contract, point, replay, recharge_id)
    compensations = _compensate(uow, corrections.differences, recharge_id, now)
    counters_changed = _write_counters(uow, stored, replay.counters)
    uow.counter_journal.forget([operation.operation_id for operation in point.operations])
    uow.counter_journal.record_rows(replay.journal)
    uow.recharges.supersede(corrections.superseded, recharge_id)
    uow.recharges.insert_items(corrections.rows)
    uow.contract_states.set_status([contract.id], before=[ContractStatus.LOCKED], after=ContractStatus.ACTIVE)
    result = RechargeResult(
        recharge_id=recharge_id,
        contract_id=contract.id,
        from_date=command.from_date,
        catalog_version=catalog.version,
        recharged_at=now,
        items_recharged=point.items,
        items_changed=corrections.changed,
        items_refused=len(replay.refused),
        refused=replay.refused[: limits.RECHARGE_REFUSALS_REPORTED_MAX],
        charged_items_superseded=len(corrections.superseded),
        correction_rows=len(corrections.rows),
        counters_changed=counters_changed,
        compensations=compensations,
        pricing_path=path,
    )
    uow.recharges.end_interrupted(contract.id, recharge_id, at=now)
    uow.recharges.update(recharge_id, {"state": DONE, "finished_at": now, "result": result.model_dump_json()})
    details = result.model_dump(mode="json", include={"recharge_id", "from_date", "catalog_version", "items_recharged", "items_changed"})
    uow.audit.record(at=now, actor=run.actor, action="recharge", target=f"contract/{contract.id}", details=details | {"job_id": run.job_id})
    return result


def _check_rechargeable(uow: UnitOfWork, contract: Contract, catalog: Catalog, context: ChargingContext) -> None:
    """Refuse what a recharge of one contract cannot restore alone: counters other contracts share, and the counters live
    grants hold. A live session that holds none (its grant reserves money only) stays as it is: its reservation is not a
    charge, and what it charges next is priced on the corrected state."""
    current = context.catalogs.current(uow).catalog
    children = uow.recharges.linked_children(contract.id)
    if contract.parent_id is not None or children or shared_counters_of(catalog, contract) or shared_counters_of(current, contract):
        others = (
            f"its parent {contract.parent_id!r}"
            if contract.parent_id is not None
            else f"linked contracts {children}"
            if children
            else "other contracts"
        )
        raise IllegalStateError(
            code=Code.RECHARGE_OF_SHARED_COUNTERS,
            message=f"contract {contract.id!r} shares counters with {others}; recharging one of them alone would change the others'",
        )
    holding = uow.recharges.live_sessions_holding(contract.id)
    if holding:
        raise IllegalStateError(
            code=Code.CONTRACT_HAS_LIVE_SESSIONS,
            message=f"live sessions of contract {contract.id!r} ({', '.join(map(repr, holding))}) hold some of its counters, "
            "as they were before the recharge would change them; recharge it once they end",
        )


def _check_live_sessions_charged_nothing_since(uow: UnitOfWork, contract: Contract, point: RestorationPoint) -> None:
    """Refuse when a live session already charged usage the recharge would charge again as single items: the session
    goes on from the transient counters and charges of its first pricing."""
    charged = sorted({operation.session_id for operation in point.operations if operation.session_id is not None})
    live = uow.recharges.live_of(charged) if charged else []
    if live:
        raise IllegalStateError(
            code=Code.CONTRACT_HAS_LIVE_SESSIONS,
            message=f"live sessions of contract {contract.id!r} ({', '.join(map(repr, live))}) charged usage since "
            f"{point.from_date.isoformat()}; recharge it once they end",
        )


def stored_counters(uow: UnitOfWork, contract_id: str) -> dict[CounterKey, StoredValue]:
    """The contract's stored counters (its own and its activations')."""
    return {key: StoredValue(unit, value, life) for key, unit, value, life in uow.counters.listing(contract_id)}


def restored_counters(stored: Mapping[CounterKey, StoredValue], point: RestorationPoint) -> dict[CounterKey, StoredValue]:
    """The counters as they were at ``point``: the stored ones, with the rows the journal recorded before the first change."""
    restored = dict(stored)
    for key, row in point.counters.items():
        if row is None:
            restored.pop(key, None)
        else:
            restored[key] = row
    return restored


def _replay(
    uow: UnitOfWork,
    catalog: CatalogVersion,
    contract: Contract,
    restored: Mapping[CounterKey, StoredValue],
    operations: Sequence[Replayed],
    run: RechargeRun,
) -> tuple[Replay, PricingPath]:
    """The items charged again: column-wise when the contract's plans take the vectorized path (and the run allows it),
    else one at a time. Both give the same :class:`Replay`."""
    if PricingPath.COLUMNAR in run.paths:
        try:
            return replay_columnar(uow, catalog, run.plans, contract, restored, operations), PricingPath.COLUMNAR
        except NotColumnar:
            pass
    return replay_items(catalog.catalog, contract, restored, operations), PricingPath.ROW


def replay_items(
    catalog: Catalog, contract: Contract, restored: Mapping[CounterKey, StoredValue], operations: Sequence[Replayed]
) -> Replay:
    """Charge ``operations`` again, in their order, from the ``restored`` counters, as single charges would (pure)."""
    replay = Replay(counters=dict(restored))
    state = RatingState(contract, {key: row.value for key, row in restored.items()}, {key: row.life for key, row in restored.items()})
    for operation in operations:
        if operation.bonus is not None:
            change = bonus_again(catalog, contract, replay.counters, operation, operation.bonus)
            apply_changes(replay, operation, [change])
            state = state.after([change])
            continue
        assert operation.item is not None, "an operation replayed is an item or a refill's bonus"
        try:
            item = typed_item(catalog, operation.item)
            outcome = rate_item(catalog, state, item)
            payers = resolve_payers(contract, outcome.charged_items)
        except KopekError as error:
            replay.refused.append(RefusedItem(operation_id=operation.operation_id, code=error.code.value, message=error.message))
            continue
        apply_changes(replay, operation, outcome.counter_changes)
        state = state.after(outcome.counter_changes)
        replay.charged[operation.operation_id] = (item, list(zip(outcome.charged_items, payers, strict=True)))
    return replay


def bonus_again(
    catalog: Catalog, contract: Contract, counters: Mapping[CounterKey, StoredValue], operation: Replayed, bonus: ReplayedBonus
) -> CounterChange:
    """A refill's bonus units added again in their place: the same units on the same counter, lapsing when they did,
    on top of the counter as the items before left it (pure)."""
    given = RefillBonus(counter=bonus.counter, units=bonus.units, expires_after_days=1)
    key, spec = bonus_counter(catalog, contract, given, operation.consumption_date)
    if key.item_id != bonus.contract_item_id:
        raise IllegalStateError(
            code=Code.RECHARGE_CROSSES_OTHER_CHANGES,
            message=f"refill operation {operation.operation_id!r} added bonus units to counter {bonus.counter!r} of contract item "
            f"{bonus.contract_item_id!r}; the chosen catalog keeps that counter elsewhere",
        )
    row = counters.get(key)
    stored = StoredCounter(row.value, row.life.period_start, row.life.expires_at) if row is not None else None
    return replayed_bonus_change(key, spec, stored, bonus.units, expires_at=bonus.expires_at, at=operation.consumption_date)


def typed_item(catalog: Catalog, stored: Mapping[str, Any]) -> TypedItem:
    """A chargeable item as an operation stored it, typed against ``catalog``."""
    item_class = catalog.item_class(stored["item_class"])
    if item_class is None:
        raise PrerequisiteMissingError(code=Code.ITEM_CLASS_UNKNOWN, message=f"unknown chargeable item class {stored['item_class']!r}")
    item = ChargeableItem(
        item_class=stored["item_class"],
        consumption_date=datetime.fromisoformat(stored["consumption_date"]),
        service_id=stored["service_id"],
        user_id=stored["user_id"],
        properties=stored["properties"],
    )
    return type_item(item_class, item)


@dataclass(slots=True)
class Corrections:
    superseded: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    differences: dict[str, tuple[Decimal, str]] = field(default_factory=dict)
    changed: int = 0


def _corrections(uow: UnitOfWork, contract: Contract, point: RestorationPoint, replay: Replay, recharge_id: str) -> Corrections:
    """For each item whose new charged items differ from its standing ones: those superseded, a reversal of each, the
    new ones; and per account the difference in charged amount (with its currency)."""
    standing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in uow.recharges.standing_items([operation.operation_id for operation in point.operations]):
        standing[row["operation_id"]].append(row)
    found = Corrections()
    totals: dict[str, Decimal] = defaultdict(Decimal)
    currencies: dict[str, str] = {}
    with decimal.localcontext(rating_context()):
        for operation in point.operations:
            old = standing.get(operation.operation_id, [])
            typed, charged = replay.charged.get(operation.operation_id, (None, []))
            new = [_new_row(operation, contract, typed, item, payer, recharge_id) for item, payer in charged if typed is not None]
            if sorted(map(_compared, old)) == sorted(map(_compared, new)):
                continue
            found.changed += 1
            found.superseded += [row["id"] for row in old]
            found.rows += [_reversal(row, recharge_id) for row in old] + new
            for row in old:
                totals[row["account_id"]] -= row["amount"]
                currencies[row["account_id"]] = row["currency"]
            for row in new:
                totals[row["account_id"]] += row["amount"]
                currencies[row["account_id"]] = row["currency"]
    found.differences = {account_id: (total, currencies[account_id]) for account_id, total in totals.items() if total != 0}
    return found


_COMPARED = (
    "contract_item_id",
    "charge_plan",
    "charge",
    "account_role",
    "account_id",
    "amount",
    "currency",
    "quantity",
    "quantity_unit",
    "output",
)


def _compared(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(str(Decimal(row[name]).normalize()) if name in ("amount", "quantity") else str(row[name]) for name in _COMPARED)


def _new_row(
    operation: Replayed, contract: Contract, item: TypedItem | None, charged: ChargedItem, payer: str, recharge_id: str
) -> dict[str, Any]:
    assert item is not None
    return charged_row(operation.operation_id, contract, item, charged, payer) | {"recharge_id": recharge_id, "reverses_id": None}


def _reversal(row: Mapping[str, Any], recharge_id: str) -> dict[str, Any]:
    """A correction row that takes ``row`` back: the same item, minus its amount and quantity."""
    kept = ("operation_id", "contract_id", "contract_item_id", "item_class", "charge_plan", "charge", "account_role", "account_id")
    return {name: row[name] for name in kept} | {
        "amount": -row["amount"],
        "currency": row["currency"],
        "quantity": -row["quantity"],
        "quantity_unit": row["quantity_unit"],
        "output": row["output"],
        "consumption_date": row["consumption_date"],
        "recharge_id": recharge_id,
        "reverses_id": row["id"],
    }


def _compensate(uow: UnitOfWork, differences: Mapping[str, tuple[Decimal, str]], recharge_id: str, now: datetime) -> list[Compensation]:
    """One account operation per account whose charged amount changed: prepaid balances get minus the difference,
    postpaid ones the difference. A prepaid balance may not go below its floor (less what live sessions reserve)."""
    if not differences:
        return []
    accounts = uow.master.lock_accounts(sorted(differences))
    reserved = uow.sessions.reserved(accounts)
    compensations: list[Compensation] = []
    operations = []
    balances: dict[AccountId, Decimal] = {}
    for account_id in map(AccountId, sorted(differences)):
        difference, currency = differences[account_id]
        account = accounts[account_id]
        if account.currency != currency:
            raise InvalidConfigurationError(
                code=Code.CURRENCY_MISMATCH,
                reason=Reason.CANNOT_CHARGE_ACCOUNT,
                message=f"the new charges of account {account_id!r} are in {currency}, the account holds {account.currency}",
            )
        effect = -difference if account.kind is AccountKind.PREPAID else difference
        after, operation = adjust(less_reserved(account, reserved.get(account_id, ZERO)), effect, OperationKind.RECHARGE)
        after = with_bounds_of(after, account)
        operations.append(operation)
        balances[account_id] = after.balance
        compensations.append(Compensation(account_id=account_id, amount=effect, balance_after=after.balance, currency=currency))
    uow.master.set_balances(balances)
    uow.master.insert_account_operations(operations, operation_id=recharge_id, at=now)
    return compensations


def _write_counters(uow: UnitOfWork, stored: Mapping[CounterKey, StoredValue], final: Mapping[CounterKey, StoredValue]) -> int:
    """Store the counters as the recharge left them; how many changed."""
    written = [
        CounterChange(key, Unit(row.unit), stored[key].value if key in stored else 0, row.value, row.life.period_start, row.life.expires_at)
        for key, row in sorted(final.items())
        if stored.get(key) != row
    ]
    gone = [key for key in sorted(stored) if key not in final]
    uow.counters.write(written)
    uow.counters.delete(gone)
    return len(written) + len(gone)

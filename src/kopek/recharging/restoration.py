"""Restoration points: a contract's state as of a date, rebuilt from the counter journal and its charging operations.

The state as of ``from_date`` is the state just before the first change (in the order changes
were made) by an item consumed at or after ``from_date``. From there on every item whose change
came later is charged again by a recharge: the items consumed at or after ``from_date``, and
the late ones consumed before it but charged after that first change, which so take their
place in consumption order.

A restoration point is refused (``restoration_point_out_of_reach``) before the retention window
or when the contract's counters were replaced wholesale since (a contract state restore, or the
journal beginning after the items, or pruned past them); and (``recharge_crosses_counter_changes_it_cannot_replay``)
when what changed the counters since is neither an item nor a refill of the contract (a
linked contract's charge). A refill's bonus units are put again in their place, in
consumption order: the same units, lapsing when they did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kopek.domain.catalog import CounterScope
from kopek.domain.outcome import CounterKey
from kopek.domain.units import Unit
from kopek.errors import Code, DoesNotExistError, IllegalStateError
from kopek.migration.export import states_of
from kopek.migration.state import (
    CONTRACT_NAMESPACE,
    ActivationState,
    ContractItemState,
    ContractState,
    CounterState,
    SharedCounterState,
)
from kopek.recharging.views import AccountEffect, RestorationPointView
from kopek.store.counter_journal_store import CHANGE, MARK, StoredValue
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ReplayedBonus:
    """A refill's bonus units as they were given: the counter (of the contract item ``contract_item_id``, empty for a
    contract counter), the units in its unit, and when they lapse."""

    counter: str
    contract_item_id: str
    units: Decimal
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Replayed:
    """One charging operation a recharge charges again: its id, dates, and either the chargeable item it charged (as
    stored) or the bonus units a refill added (``item`` is then ``None``)."""

    operation_id: str
    consumption_date: datetime
    created_at: datetime
    item: Mapping[str, Any] | None
    session_id: str | None
    bonus: ReplayedBonus | None = None


@dataclass(frozen=True, slots=True)
class RestorationPoint:
    """A contract's counters as of ``from_date`` (``counters``: the rows that differ from the stored ones; ``None``: no
    row) and the operations to charge again from there, in consumption order."""

    contract_id: str
    from_date: datetime
    operations: list[Replayed]
    counters: dict[CounterKey, StoredValue | None] = field(default_factory=dict)
    units: dict[CounterKey, str] = field(default_factory=dict)

    @property
    def items(self) -> int:
        """How many of the operations charged items (the others are refills' bonus units)."""
        return sum(1 for operation in self.operations if operation.item is not None)


def restoration_point(uow: UnitOfWork, contract_id: str, from_date: datetime, *, now: datetime, retention_days: int) -> RestorationPoint:
    """The restoration point of ``contract_id`` (locked by the caller) as of ``from_date``."""
    if from_date < now - timedelta(days=retention_days):
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"{from_date.isoformat()} is before the retention window of restoration points ({retention_days} days)",
        )
    rows = {row["id"]: row for row in uow.recharges.operations_from(contract_id, from_date) if _replayable(row)}
    first = uow.counter_journal.first_id_of(sorted(rows))
    counters: dict[CounterKey, StoredValue | None] = {}
    units: dict[CounterKey, str] = {}
    if first is not None:
        later = uow.counter_journal.entries(contract_id, from_id=first)
        _refuse_marks(later, from_date)
        missing = sorted({entry.operation_id for entry in later if entry.operation_id is not None and entry.operation_id not in rows})
        found = {row["id"]: row for row in uow.recharges.operations(missing, contract_id=contract_id)}
        # An id found neither among the operations nor among this contract's charged CDRs is another contract's CDR.
        for operation_id in missing:
            row = found.get(operation_id)
            if row is None or row["contract_id"] != contract_id or not _replayable(row):
                raise IllegalStateError(
                    code=Code.RECHARGE_CROSSES_OTHER_CHANGES,
                    message=f"operation {operation_id!r} (neither an item nor a refill of contract {contract_id!r}: a linked "
                    f"contract's charge) changed its counters after {from_date.isoformat()}; recharge from a date after it",
                )
            rows[operation_id] = row
        for entry in later:
            if entry.kind == CHANGE and entry.key not in counters:
                counters[entry.key] = entry.before
                units[entry.key] = entry.unit
    _refuse_older_than_the_journal(uow, contract_id, rows.values(), from_date)
    operations = sorted((_replayed(row) for row in rows.values()), key=lambda op: (op.consumption_date, op.created_at, op.operation_id))
    return RestorationPoint(contract_id, from_date, operations, counters, units)


def _refuse_marks(entries: list[Any], from_date: datetime) -> None:
    if any(entry.kind == MARK for entry in entries):
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"the contract's counters were replaced (a contract state restore) after {from_date.isoformat()}; "
            "no restoration point reaches back past it",
        )


def _refuse_older_than_the_journal(uow: UnitOfWork, contract_id: str, rows: Any, from_date: datetime) -> None:
    rows = list(rows)
    horizon = uow.counter_journal.horizon()
    if horizon is not None and any(row["created_at"] < horizon for row in rows):
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"items consumed since {from_date.isoformat()} were charged before {horizon.isoformat()}, and the counter "
            "journal is pruned before that date; no restoration point reaches back past it",
        )
    mark = uow.counter_journal.last_mark(contract_id)
    if mark is None:
        return
    if any(row["created_at"] < mark for row in rows):
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"items consumed since {from_date.isoformat()} were charged before the contract's counters were last replaced "
            f"({mark.isoformat()}); no restoration point reaches back past it",
        )


def _item_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The chargeable item a stored operation charged: a CDR's the stored CDR, another's the item of its stored result;
    ``None`` for a fee or a refill."""
    if row["cdr_id"] is not None:
        return {
            "item_class": row["item_class"],
            "consumption_date": row["consumption_date"].isoformat(),
            "service_id": row["service_id"],
            "user_id": row["user_id"],
            "properties": json.loads(row["properties"]),
        }
    item = json.loads(row["result"]).get("chargeable_item_info")
    return item if isinstance(item, dict) else None


def _bonus_of(row: Mapping[str, Any]) -> ReplayedBonus | None:
    """The bonus units a stored refill operation added; ``None`` for any other operation, or a refill without bonus."""
    if row["result"] is None:
        return None
    result = json.loads(row["result"])
    bonus = result.get("bonus") if "refill_id" in result else None
    if not isinstance(bonus, dict):
        return None
    return ReplayedBonus(bonus["counter"], bonus["contract_item_id"], Decimal(bonus["units"]), datetime.fromisoformat(bonus["expires_at"]))


def _replayable(row: Mapping[str, Any]) -> bool:
    """Whether a recharge charges the operation again: an item, or a refill's bonus units (put again in their place)."""
    return _item_of(row) is not None or _bonus_of(row) is not None


def _replayed(row: Mapping[str, Any]) -> Replayed:
    item = _item_of(row)
    bonus = None if item is not None else _bonus_of(row)
    assert item is not None or bonus is not None, "only the operations of items and refills' bonus units are replayed"
    return Replayed(row["id"], row["consumption_date"], row["created_at"], item, row["session_id"], bonus)


def account_effects(items: list[dict[str, Any]], kinds: Mapping[str, str]) -> dict[str, Decimal]:
    """What charged ``items`` did to each account's balance: a prepaid debit of minus their amount, a postpaid accumulation
    of their amount."""
    effects: dict[str, Decimal] = {}
    for row in items:
        amount, account_id = Decimal(row["amount"]), row["account_id"]
        effects[account_id] = effects.get(account_id, Decimal(0)) + (-amount if kinds.get(account_id) == "prepaid" else amount)
    return effects


def restoration_point_view(uow: UnitOfWork, contract_id: str, at: datetime, *, now: datetime, retention_days: int) -> RestorationPointView:
    """The contract's state as of ``at`` in the form of a migration contract state (counters and activations as they
    were), and what the standing charges of the items since did to its accounts; reads only."""
    if uow.master.contract(contract_id) is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {contract_id!r} does not exist")
    point = restoration_point(uow, contract_id, at, now=now, retention_days=retention_days)
    (current,) = states_of(uow, [contract_id])
    stored = {key: StoredValue(unit, value, life) for key, unit, value, life in uow.counters.listing(contract_id)}
    for key, row in point.counters.items():
        if row is None:
            stored.pop(key, None)
        else:
            stored[key] = row
    items = uow.recharges.standing_items([operation.operation_id for operation in point.operations])
    found = [uow.master.account(account_id) for account_id in sorted({row["account_id"] for row in items})]
    kinds: dict[str, str] = {account.id: account.kind.value for account in found if account is not None}
    effects = account_effects(items, kinds)
    current = current.model_copy(update={"activations": activations_as_of(uow, current, at)})
    return RestorationPointView(
        contract_id=contract_id,
        at=at,
        items_since=point.items,
        state=_state_with(current, stored).model_dump(mode="json"),
        account_effects=[AccountEffect(account_id=account_id, amount=effects[account_id]) for account_id in sorted(effects)],
    )


def activations_as_of(uow: UnitOfWork, current: ContractState, at: datetime) -> tuple[ActivationState, ...]:
    """The contract's activations as the fee periods before ``at`` left them, rebuilt from the activation journal: each
    activation a fee run changed with effect at or after ``at`` as it was before the first such change, the others as
    they are. Refused when fee periods since were charged before the journal began (or past its horizon), or before
    the contract's state was last restored."""
    contract_id = current.contract_id
    if uow.activations.fee_periods_unjournaled(contract_id, at):
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"fee periods of contract {contract_id!r} since {at.isoformat()} were charged before the activation journal "
            "began, or it is pruned past them; no restoration point reaches back past them",
        )
    before, earliest = uow.activations.activations_as_of(contract_id, at)
    mark = uow.counter_journal.last_mark(contract_id)
    if mark is not None and earliest is not None and earliest < mark:
        raise IllegalStateError(
            code=Code.RESTORATION_POINT_OUT_OF_REACH,
            message=f"fee periods since {at.isoformat()} were charged before the contract's state was last restored "
            f"({mark.isoformat()}); no restoration point reaches back past it",
        )
    found = {activation.id: activation for activation in current.activations}
    for activation_id, activation in before.items():
        if activation is None:
            found.pop(activation_id, None)
            continue
        counters = found[activation_id].counters if activation_id in found else ()
        found[activation_id] = ActivationState(
            id=activation.id,
            item_id=activation.item_id,
            kind=activation.kind,
            status=activation.status,
            last_activation_date=activation.last_activation_date,
            counters=counters,
        )
    return tuple(found[activation_id] for activation_id in sorted(found))


def _state_with(current: ContractState, counters: Mapping[CounterKey, StoredValue]) -> ContractState:
    """``current`` with ``counters`` in place of its stored contract, contract item and activation counters."""
    contract_scope: list[SharedCounterState] = []
    by_item: dict[str, list[CounterState]] = {}
    by_activation: dict[str, list[CounterState]] = {}
    for key in sorted(counters):
        row = counters[key]
        counter = CounterState(
            name=key.name, unit=Unit(row.unit), value=row.value, period_start=row.life.period_start, expires_at=row.life.expires_at
        )
        if key.scope is CounterScope.ACTIVATION:
            by_activation.setdefault(key.item_id, []).append(counter)
        elif key.item_id == "":
            contract_scope.append(SharedCounterState(namespace=CONTRACT_NAMESPACE, **counter.model_dump()))
        else:
            by_item.setdefault(key.item_id, []).append(counter)
    pools = [pool for pool in current.shared_counters if pool.namespace != CONTRACT_NAMESPACE]
    return current.model_copy(
        update={
            "shared_counters": (*contract_scope, *pools),
            "items": tuple(ContractItemState(item_id=item_id, counters=tuple(found)) for item_id, found in sorted(by_item.items())),
            "activations": tuple(
                activation.model_copy(update={"counters": tuple(by_activation.get(activation.id, []))})
                for activation in current.activations
            ),
        }
    )

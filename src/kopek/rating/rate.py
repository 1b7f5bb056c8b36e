"""Rating: ``(catalog, contract state, chargeable item) -> RatingOutcome``, a pure function.

Every charge of every contract item whose plan prices the item's class is applied
in contract order; they share one view of the counters, so an allowance used by
one charge is gone for the next.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from kopek.domain.catalog import (
    Catalog,
    Charge,
    ChargePlan,
    CounterAddend,
    CounterReset,
    CounterScope,
    CounterSpec,
    FeeKind,
    ThresholdDirection,
)
from kopek.domain.item import TypedItem
from kopek.domain.master import Contract, ContractItem
from kopek.domain.periods import Cycle
from kopek.errors import Code, IllegalStateError, PrerequisiteMissingError, Reason
from kopek.money import ONE, ZERO, quantize, rating_context, to_text
from kopek.rating.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind, RatingOutcome
from kopek.rating.pricing import CounterView, PricingInput, guard_arithmetic, price


@dataclass(frozen=True, slots=True)
class CounterLife:
    """When a stored counter value's reset period started and when the value lapses (none: unknown, never)."""

    period_start: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CounterHold:
    """How far the live grants of sessions move a counter this contract sees (its own, a shared allowance, a parent's
    bundle), in the reset period they were priced in. Rating adds it only in that period."""

    delta: Decimal
    period_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class RatingState:
    """A contract and the stored counters its rating can see (missing keys hold their initial value).

    ``counters`` holds the contract's own counters, its activations', the shared counters of
    its plans' namespaces and, for a linked contract, the contract counters of ``parent``;
    ``lives`` says when each stored value's period started and when it lapses.
    """

    contract: Contract
    counters: Mapping[CounterKey, Decimal]
    lives: Mapping[CounterKey, CounterLife] = field(default_factory=dict)
    parent: Contract | None = None
    session_moves: Mapping[CounterKey, Decimal] = field(default_factory=dict)
    """How much the session being rated has already moved its transient counters (empty outside a session)."""
    held: Mapping[CounterKey, CounterHold] = field(default_factory=dict)
    """What the live grants of sessions hold of the counters (all but the grant of the session being rated): an
    overlay on ``counters``, which keep the stored values. Rating prices on top of it, so no item uses the free units
    a grant was priced with; the counter changes it gives are of the stored values."""

    def after(self, changes: Iterable[CounterChange]) -> RatingState:
        """This state once ``changes`` are stored (transient counters excepted: they are never stored;
        a session keeps their moves in its impacts and passes them back as ``session_moves``)."""
        stored = [change for change in changes if change.key.scope is not CounterScope.TRANSIENT]
        counters = {**self.counters, **{change.key: change.after for change in stored}}
        lives = {**self.lives, **{change.key: CounterLife(change.period_start, change.expires_at) for change in stored}}
        return RatingState(self.contract, counters, lives, self.parent, self.session_moves, self.held)

    def held_in(self, key: CounterKey, period_start: datetime | None) -> Decimal:
        """What others hold of ``key`` in the period starting at ``period_start``."""
        hold = self.held.get(key)
        return hold.delta if hold is not None and hold.period_start == period_start else ZERO


def rate_item(catalog: Catalog, state: RatingState, item: TypedItem) -> RatingOutcome:
    """Price ``item`` under every applicable charge of ``state``'s contract."""
    values: dict[CounterKey, Decimal] = {}
    lives: dict[CounterKey, CounterLife] = {}
    notifications: list[Notification] = []
    charged: list[ChargedItem] = []
    touched: dict[CounterKey, CounterSpec] = {}
    before: dict[CounterKey, Decimal] = {}
    try:
        with decimal.localcontext(rating_context()):
            parent_specs = _parent_counters(catalog, state.parent, item.consumption_date)
            for contract_item, plan in _plans(catalog, state.contract, item.consumption_date):
                bound = _bind(state, contract_item, plan, parent_specs)
                for counter in bound.values():
                    if counter.key not in values:
                        values[counter.key], lives[counter.key] = _current(state, counter, item.consumption_date)
                        before[counter.key] = values[counter.key]
                specs = {name: counter.spec for name, counter in bound.items()}
                view = CounterView(values, specs, {name: counter.key for name, counter in bound.items()}, notifications)
                for charge in plan.charges:
                    if charge.item_class == item.item_class.name:
                        charged.append(_apply_charge(charge, plan, contract_item, item, view, calendars=catalog.holiday_dates))
                touched.update({counter.key: counter.spec for counter in bound.values()})
    except decimal.DecimalException as error:
        raise guard_arithmetic(error) from error
    if not charged:
        raise IllegalStateError(
            code=Code.NO_CHARGE_FOR_ITEM_CLASS,
            reason=Reason.NOT_AUTHORIZED,
            message=f"contract {state.contract.id!r} has no charge for item class {item.item_class.name!r}",
        )
    changes = tuple(
        _stored_change(state, key, spec, before[key], values[key], lives[key])
        for key, spec in sorted(touched.items())
        if values[key] != before[key] or (key in state.counters and lives[key] != state.lives.get(key, CounterLife()))
    )
    notifications.extend(_crossings(changes, touched))
    return RatingOutcome(tuple(charged), changes, tuple(notifications))


def _stored_change(
    state: RatingState, key: CounterKey, spec: CounterSpec, before: Decimal, after: Decimal, life: CounterLife
) -> CounterChange:
    """The change of a counter's stored value: rating read it with the grants' holds on top (:func:`_current`); what is
    stored, and what crosses thresholds, is the value without them."""
    held = state.held_in(key, life.period_start)
    if held == 0:
        return CounterChange(key, spec.unit, before, after, life.period_start, life.expires_at)
    with decimal.localcontext(rating_context()):
        return CounterChange(key, spec.unit, before - held, after - held, life.period_start, life.expires_at)


def _current(state: RatingState, counter: _Bound, at: datetime) -> tuple[Decimal, CounterLife]:
    """The value of ``counter`` at ``at``: its stored value unless it lapsed or its reset period ended, plus what other
    contracts' live grants hold of it in that period.

    Resets are lazy: a value is reset by the first item of a new period, at that item's
    consumption date. An item dated before the stored value's period (a late CDR) is
    counted in the stored period: periods never go back.
    """
    value, life = _stored_current(state, counter, at)
    return value + state.held_in(counter.key, life.period_start), life


def _stored_current(state: RatingState, counter: _Bound, at: datetime) -> tuple[Decimal, CounterLife]:
    key, spec = counter.key, counter.spec
    start = counter.cycle.start_of(at) if counter.cycle is not None else None
    if key.scope is CounterScope.TRANSIENT:
        return spec.initial + state.session_moves.get(key, ZERO), CounterLife()
    if key not in state.counters:
        return spec.initial, CounterLife(start, None)
    value, life = state.counters[key], state.lives.get(key, CounterLife())
    expires_at = life.expires_at
    if expires_at is not None and expires_at <= at:
        value, expires_at = spec.initial, None
    if start is None or (life.period_start is not None and life.period_start >= start):
        return value, CounterLife(life.period_start if start is not None else None, expires_at)
    if life.period_start is None:
        return value, CounterLife(start, expires_at)  # Stored before the counter had periods: it belongs to this one.
    return spec.initial, CounterLife(start, None)


def _crossings(changes: tuple[CounterChange, ...], specs: Mapping[CounterKey, CounterSpec]) -> list[Notification]:
    """A ``threshold_crossed`` notification for each threshold an item moved its counter across."""
    crossed = []
    for change in changes:
        for threshold in specs[change.key].thresholds:
            going_up = threshold.direction is ThresholdDirection.UP
            if (change.before < threshold.value <= change.after) if going_up else (change.before > threshold.value >= change.after):
                value = to_text(threshold.value)
                crossed.append(
                    Notification(
                        NotificationKind.THRESHOLD_CROSSED,
                        f"counter {change.key.name!r} crossed {value} going {threshold.direction}",
                        {"counter": change.key.name, "value": value, "direction": threshold.direction.value},
                    )
                )
    return crossed


def price_quantity(catalog: Catalog, state: RatingState, item: TypedItem) -> Decimal:
    """The total amount ``item`` would cost, changing nothing (a price enquiry)."""
    return sum((charged.amount for charged in rate_item(catalog, state, item).charged_items), ZERO)


def _plans(catalog: Catalog, contract: Contract, at: datetime) -> list[tuple[ContractItem, ChargePlan]]:
    """The version of each contract item's plan in effect at ``at``, the consumption date."""
    plans = []
    for contract_item in contract.items:
        plan = catalog.charge_plan(contract_item.charge_plan, at)
        if plan is None:
            known = catalog.charge_plan(contract_item.charge_plan) is not None
            raise PrerequisiteMissingError(
                code=Code.CHARGE_PLAN_UNKNOWN,
                message=f"contract item {contract_item.id!r} activates unknown charge plan {contract_item.charge_plan!r}"
                + (f" (no version in effect on {at.astimezone(UTC).date().isoformat()})" if known else ""),
            )
        plans.append((contract_item, plan))
    return plans


def _parent_counters(catalog: Catalog, parent: Contract | None, at: datetime) -> dict[str, tuple[CounterSpec, ChargePlan]]:
    """The contract counters that a linked contract takes from its parent: those its parent's plans declare at ``at``."""
    if parent is None:
        return {}
    declared: dict[str, tuple[CounterSpec, ChargePlan]] = {}
    for _, plan in _plans(catalog, parent, at):
        for spec in plan.counters:
            if spec.scope is CounterScope.CONTRACT:
                declared.setdefault(spec.name, (spec, plan))
    return declared


@dataclass(frozen=True, slots=True)
class _Bound:
    """A plan's counter as one rating call sees it: the key of its value, the spec that governs
    it (the parent's for a parent counter) and the cycle of its resets (none: never resets)."""

    key: CounterKey
    spec: CounterSpec
    cycle: Cycle | None


def _bind(
    state: RatingState, contract_item: ContractItem, plan: ChargePlan, parent_specs: Mapping[str, tuple[CounterSpec, ChargePlan]]
) -> dict[str, _Bound]:
    """Each counter of ``plan``, by name, bound to the value it reads and writes."""
    contract = state.contract
    bound = {}
    for spec in plan.counters:
        if spec.scope is CounterScope.CONTRACT and spec.name in parent_specs and state.parent is not None:
            parent_spec, parent_plan = parent_specs[spec.name]
            key = CounterKey(state.parent.id, "", spec.name, CounterScope.CONTRACT)
            bound[spec.name] = _Bound(key, parent_spec, reset_cycle(parent_spec, parent_plan, state.parent))
            continue
        if spec.scope is CounterScope.CONTRACT:
            key = CounterKey(contract.id, "", spec.name, CounterScope.CONTRACT)
        elif spec.scope is CounterScope.SHARED:
            assert spec.namespace is not None, "a shared counter has a namespace (validated on load)"
            key = CounterKey("", "", spec.name, CounterScope.SHARED, spec.namespace)
        else:
            key = CounterKey(contract.id, contract_item.id, spec.name, spec.scope)
        bound[spec.name] = _Bound(key, spec, reset_cycle(spec, plan, contract))
    return bound


def reset_cycle(spec: CounterSpec, plan: ChargePlan, contract: Contract) -> Cycle | None:
    """The cycle whose period starts reset counter ``spec``: its own calendar cycle, or for a
    ``per_activation`` reset the cycle of the plan's first recurring fee for ``contract``."""
    if spec.reset is not CounterReset.PER_ACTIVATION:
        return spec.cycle()
    fee = next((fee for fee in plan.fees if fee.kind is FeeKind.RECURRING), None)
    assert fee is not None, "a per_activation reset needs a recurring fee in its plan (validated on load)"
    return fee.cycle(contract.valid_from)


def _apply_charge(
    charge: Charge,
    plan: ChargePlan,
    contract_item: ContractItem,
    item: TypedItem,
    view: CounterView,
    *,
    calendars: Mapping[str, frozenset[date]],
) -> ChargedItem:
    unit = item.item_class.quantity_unit
    quantity = item.quantity
    base_quantity = unit.to_base(quantity) if unit is not None else quantity
    given = PricingInput(item.properties, unit, item.consumption_date, calendars)
    unrounded = price(charge.price, base_quantity, given, view)
    amount = quantize(unrounded, decimals=charge.rounding.decimals, mode=charge.rounding.mode)
    for update in charge.counter_updates:
        counter_unit = view.unit(update.counter)
        if update.add is CounterAddend.QUANTITY:
            addend = counter_unit.from_base(base_quantity)
        elif update.add is CounterAddend.AMOUNT:
            addend = amount
        else:
            addend = ONE
        view.set(update.counter, view.get(update.counter) + addend)
    return ChargedItem(
        contract_item_id=contract_item.id,
        charge_plan=plan.name,
        charge=charge.name,
        account_role=charge.account_role,
        amount=amount,
        currency=plan.currency,
        quantity=quantity,
        quantity_unit=unit,
        output=charge.output,
    )

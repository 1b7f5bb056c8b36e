"""A catalog compiled for rating, once per catalog version: charge plans as small objects and closures.

Compiling a charge plan resolves what the interpretation of its trees would look up for every
item: each counter becomes a slot (its unit, initial value and thresholds in base units, its reset
cycle), each charge's pricing tree a function over exact numbers (:mod:`kopek.rating.price_tree`),
its rounding a precomputed rule. Bound to a contract item, the slots get their counter keys
(built once and kept for the next items of the contract); pricing an item then reads, resets and
writes only the counters on the path the item takes.

The compiled form lives with the :class:`~kopek.domain.catalog.Catalog` it was made from (a catalog
version never changes) and is pure like the rest of rating: no I/O, no clock. What it caches (keys
bound to contracts, the current period of each reset cycle) is derived from its inputs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from kopek import limits
from kopek.domain.catalog import (
    Catalog,
    Charge,
    ChargePlan,
    CounterAddend,
    CounterReset,
    CounterScope,
    CounterSpec,
    CounterThreshold,
    FeeKind,
    ItemClass,
    ThresholdDirection,
)
from kopek.domain.item import PropertyValue, TypedItem
from kopek.domain.master import Contract, ContractItem
from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind
from kopek.domain.periods import Cycle
from kopek.domain.units import Unit
from kopek.errors import Code, IllegalStateError, PrerequisiteMissingError, Reason
from kopek.money import Exact, ExactInput, exact, ratio, round_exact, to_text
from kopek.rating.outcome import RatingOutcome
from kopek.rating.price_tree import PriceFn, TreeScope, compile_tree
from kopek.rating.state import NO_LIFE, CounterLife, RatingState

_DERIVED_KEY: Final = "kopek.rating.compiled"


def compiled(catalog: Catalog) -> CompiledCatalog:
    """The compiled form of ``catalog``, made on first use and kept with it."""
    return catalog.derived(_DERIVED_KEY, CompiledCatalog)


class CompiledCatalog:
    """The plans of a catalog, compiled on first use, by name and version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._versions: dict[str, tuple[tuple[datetime | None, CompiledPlan], ...]] = {}
        self._quantities: dict[str, _Quantity] = {}

    def plan_at(self, name: str, at: datetime) -> CompiledPlan | None:
        """The version of plan ``name`` in effect at ``at`` (the UTC date of ``at``), compiled; none when none is."""
        versions = self._versions.get(name)
        if versions is None:
            versions = self._versions[name] = tuple(
                (_day_start(plan.effective_from), CompiledPlan(self.catalog, plan))
                for plan in reversed(self.catalog.charge_plan_versions(name))
            )
        for start, plan in versions:
            if start is None or start <= at:
                return plan
        return None

    def rate(self, state: RatingState, item: TypedItem) -> RatingOutcome:
        """Price ``item`` under every applicable charge of ``state``'s contract."""
        contract, at, klass = state.contract, item.consumption_date, item.item_class
        quantity = self._quantity(klass)
        value = item.properties[quantity.name] if quantity.name is not None else 0
        assert isinstance(value, Decimal | int), "an item's quantity is a number (typed against its class)"
        base = in_base(value, quantity.factor)
        shown = value if type(value) is Decimal else Decimal(value)
        run = _Run(state, item.properties, at)
        charged: list[ChargedItem] = []
        parents: dict[str, tuple[CounterSpec, ChargePlan]] | None = None
        for contract_item in contract.items:
            plan = self._plan_of(contract_item, at)
            charges = plan.charges_of(klass.name)
            if not charges:
                continue
            if state.parent is not None and parents is None:
                parents = self._parent_counters(state.parent, at)
            run.bound = plan.bound(contract, contract_item, state.parent, parents or {})
            for charge in charges:
                charged.append(charge.apply(run, contract_item.id, shown, base, quantity.unit))
        if not charged:
            raise IllegalStateError(
                code=Code.NO_CHARGE_FOR_ITEM_CLASS,
                reason=Reason.NOT_AUTHORIZED,
                message=f"contract {contract.id!r} has no charge for item class {klass.name!r}",
            )
        changes, crossings = run.changes()
        notifications = run.notes + crossings if crossings else run.notes
        return RatingOutcome(tuple(charged), changes, tuple(notifications))

    def _plan_of(self, contract_item: ContractItem, at: datetime) -> CompiledPlan:
        plan = self.plan_at(contract_item.charge_plan, at)
        if plan is None:
            known = self.catalog.charge_plan(contract_item.charge_plan) is not None
            raise PrerequisiteMissingError(
                code=Code.CHARGE_PLAN_UNKNOWN,
                message=f"contract item {contract_item.id!r} activates unknown charge plan {contract_item.charge_plan!r}"
                + (f" (no version in effect on {at.astimezone(UTC).date().isoformat()})" if known else ""),
            )
        return plan

    def _parent_counters(self, parent: Contract, at: datetime) -> dict[str, tuple[CounterSpec, ChargePlan]]:
        """The contract counters that a linked contract takes from its parent: those its parent's plans declare at ``at``."""
        declared: dict[str, tuple[CounterSpec, ChargePlan]] = {}
        for contract_item in parent.items:
            plan = self._plan_of(contract_item, at).plan
            for spec in plan.counters:
                if spec.scope is CounterScope.CONTRACT:
                    declared.setdefault(spec.name, (spec, plan))
        return declared

    def _quantity(self, klass: ItemClass) -> _Quantity:
        found = self._quantities.get(klass.name)
        if found is None or (found.klass is not klass and found.klass != klass):
            unit = klass.quantity_unit
            found = self._quantities[klass.name] = _Quantity(klass, klass.quantity, unit, int(unit.base_factor) if unit else 1)
        return found


def _day_start(day: date | None) -> datetime | None:
    """The first instant of a UTC date: an instant is on or after the date when it is on or after this."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day is not None else None


@dataclass(frozen=True, slots=True)
class _Quantity:
    """Where an item class keeps its quantity: the property, its unit and that unit's base factor."""

    klass: ItemClass
    name: str | None
    unit: Unit | None
    factor: int


class CompiledPlan:
    """One version of a charge plan: its counters as slots, its charges compiled per item class."""

    def __init__(self, catalog: Catalog, plan: ChargePlan) -> None:
        self.catalog = catalog
        self.plan = plan
        self._slots = {spec.name: (slot, spec.unit) for slot, spec in enumerate(plan.counters)}
        self._charges: dict[str, tuple[CompiledCharge, ...]] = {}
        self._bindings: dict[tuple[str, str], tuple[datetime, tuple[BoundCounter, ...]]] = {}

    def charges_of(self, item_class: str) -> tuple[CompiledCharge, ...]:
        """The plan's charges of ``item_class``, in plan order, compiled on first use."""
        found = self._charges.get(item_class)
        if found is None:
            klass = self.catalog.item_class(item_class)
            scope = TreeScope(self._slots, klass.quantity_unit if klass is not None else None, self.catalog.holiday_dates)
            found = self._charges[item_class] = tuple(
                CompiledCharge(self.plan, charge, scope) for charge in self.plan.charges if charge.item_class == item_class
            )
        return found

    def bound(
        self,
        contract: Contract,
        contract_item: ContractItem,
        parent: Contract | None,
        parents: Mapping[str, tuple[CounterSpec, ChargePlan]],
    ) -> tuple[BoundCounter, ...]:
        """Each counter slot of the plan bound to the value it reads and writes for ``contract_item``."""
        if parent is not None:
            return self._bind(contract, contract_item, parent, parents)
        key = (contract.id, contract_item.id)
        found = self._bindings.get(key)
        # The contract's start matters to counters reset per activation (the cycle of its fee).
        if found is not None and found[0] == contract.valid_from:
            return found[1]
        bound = self._bind(contract, contract_item, None, parents)
        if len(self._bindings) >= limits.RATING_BINDINGS_KEPT_MAX:
            self._bindings.clear()
        self._bindings[key] = (contract.valid_from, bound)
        return bound

    def _bind(
        self,
        contract: Contract,
        contract_item: ContractItem,
        parent: Contract | None,
        parents: Mapping[str, tuple[CounterSpec, ChargePlan]],
    ) -> tuple[BoundCounter, ...]:
        bound = []
        for spec in self.plan.counters:
            if spec.scope is CounterScope.CONTRACT and parent is not None and spec.name in parents:
                parent_spec, parent_plan = parents[spec.name]
                key = CounterKey(parent.id, "", spec.name, CounterScope.CONTRACT)
                bound.append(BoundCounter(key, parent_spec, reset_cycle(parent_spec, parent_plan, parent)))
                continue
            if spec.scope is CounterScope.CONTRACT:
                key = CounterKey(contract.id, "", spec.name, CounterScope.CONTRACT)
            elif spec.scope is CounterScope.SHARED:
                assert spec.namespace is not None, "a shared counter has a namespace (validated on load)"
                key = CounterKey("", "", spec.name, CounterScope.SHARED, spec.namespace)
            else:
                key = CounterKey(contract.id, contract_item.id, spec.name, spec.scope)
            bound.append(BoundCounter(key, spec, reset_cycle(spec, self.plan, contract)))
        return tuple(bound)


def reset_cycle(spec: CounterSpec, plan: ChargePlan, contract: Contract) -> Cycle | None:
    """The cycle whose period starts reset counter ``spec``: its own calendar cycle, or for a
    ``per_activation`` reset the cycle of the plan's first recurring fee for ``contract``."""
    if spec.reset is not CounterReset.PER_ACTIVATION:
        return spec.cycle()
    fee = next((fee for fee in plan.fees if fee.kind is FeeKind.RECURRING), None)
    assert fee is not None, "a per_activation reset needs a recurring fee in its plan (validated on load)"
    return fee.cycle(contract.valid_from)


class BoundCounter:
    """A plan's counter bound to where its value lives, with what rating needs of its spec in base units: the
    factor of its unit, its initial value, its thresholds and the current period of its reset cycle."""

    __slots__ = ("_period", "cycle", "factor", "initial", "key", "thresholds", "unit")

    def __init__(self, key: CounterKey, spec: CounterSpec, cycle: Cycle | None) -> None:
        self.key = key
        self.unit = spec.unit
        self.factor = int(spec.unit.base_factor)
        self.initial = in_base(spec.initial, self.factor)
        self.thresholds = tuple((threshold, in_base(threshold.value, self.factor)) for threshold in spec.thresholds)
        self.cycle = cycle
        self._period: tuple[datetime, datetime] | None = None
        """The last period asked for, (start, next start): items come mostly in time order."""

    def period_start(self, at: datetime) -> datetime:
        """The start of the reset period holding ``at`` (the counter resets)."""
        period = self._period
        if period is not None and period[0] <= at < period[1]:
            return period[0]
        cycle = self.cycle
        assert cycle is not None
        start = cycle.start_of(at)
        self._period = (start, cycle.next_start(start))
        return start

    def in_unit(self, value: Exact) -> Exact:
        """A value in base units, in the counter's unit."""
        return value if self.factor == 1 else ratio(value, self.factor)


class CompiledCharge:
    """One charge: its tree as a function of the quantity, its rounding, its counter updates, its charged item's
    constant fields."""

    __slots__ = ("_charge", "_decimals", "_denominator", "_mode", "_plan", "_price", "_updates")

    def __init__(self, plan: ChargePlan, charge: Charge, scope: TreeScope) -> None:
        priced = compile_tree(charge.price, scope)
        self._price: PriceFn = priced.price
        self._denominator = priced.denominator
        self._decimals, self._mode = charge.rounding.decimals, charge.rounding.mode
        self._plan, self._charge = plan, charge
        self._updates = tuple((scope.counters[update.counter][0], update.add) for update in charge.counter_updates)

    def apply(self, run: _Run, contract_item_id: str, quantity: Decimal, base: Exact, unit: Unit | None) -> ChargedItem:
        """Price the item (``quantity`` in its unit, ``base`` in base units), round once, update the counters."""
        total = self._price(base, run)
        if type(total) is int:
            amount = round_exact(total, self._denominator, decimals=self._decimals, mode=self._mode)
        else:
            assert isinstance(total, Fraction)
            amount = round_exact(total.numerator, total.denominator * self._denominator, decimals=self._decimals, mode=self._mode)
        if self._updates:
            self._update(run, base, amount)
        plan, charge = self._plan, self._charge
        return ChargedItem(
            contract_item_id, plan.name, charge.name, charge.account_role, amount, plan.currency, quantity, unit, charge.output
        )

    def _update(self, run: _Run, base: Exact, amount: Decimal) -> None:
        for slot, add in self._updates:
            counter = run.bound[slot]
            if add is CounterAddend.QUANTITY:
                addend: Exact = base
            elif add is CounterAddend.AMOUNT:
                addend = exact(amount) * counter.factor
            else:
                addend = counter.factor
            run.write(slot, run.read(slot) + addend)


class _Run:
    """One item being rated: its properties and date, and each counter it used, by key: its value now and before
    the item (base units), its period, and its bound counter."""

    __slots__ = ("at", "bound", "notes", "properties", "seen", "state")

    def __init__(self, state: RatingState, properties: Mapping[str, PropertyValue], at: datetime) -> None:
        self.state = state
        self.properties = properties
        self.at = at
        self.bound: tuple[BoundCounter, ...] = ()
        self.seen: dict[CounterKey, list[Any]] = {}
        """Per counter key: [value now, value before the item, CounterLife, BoundCounter]."""
        self.notes: list[Notification] = []

    def read(self, slot: int) -> Exact:
        counter = self.bound[slot]
        entry = self.seen.get(counter.key)
        return entry[0] if entry is not None else self._load(counter)

    def write(self, slot: int, value: Exact) -> None:
        self.seen[self.bound[slot].key][0] = value

    def notify(self, notification: Notification) -> None:
        self.notes.append(notification)

    def _load(self, counter: BoundCounter) -> Exact:
        """The counter's value when the item starts using it: its stored value unless it lapsed or its reset period
        ended, plus what other contracts' live grants hold of it in that period.

        Resets are lazy: a value is reset by the first item of a new period, at that item's consumption
        date. An item dated before the stored value's period (a late CDR) is counted in the stored period:
        periods never go back.
        """
        key, state = counter.key, self.state
        if key.scope is CounterScope.TRANSIENT:
            moved = state.session_moves.get(key)
            value = counter.initial + (in_base(moved, counter.factor) if moved is not None else 0)
            life = NO_LIFE
        else:
            stored = state.counters.get(key)
            if stored is None and counter.cycle is None:
                value, life = counter.initial, NO_LIFE
            else:
                value, life = self._stored(counter, stored)
            if state.held:
                value += state.held_in(key, life.period_start) * counter.factor
        self.seen[key] = [value, value, life, counter]
        return value

    def _stored(self, counter: BoundCounter, stored: ExactInput | None) -> tuple[Exact, CounterLife]:
        key, state, at = counter.key, self.state, self.at
        start = counter.period_start(at) if counter.cycle is not None else None
        if stored is None:
            return counter.initial, (CounterLife(start, None) if start is not None else NO_LIFE)
        life = state.lives.get(key, NO_LIFE)
        value, expires_at = in_base(stored, counter.factor), life.expires_at
        if expires_at is not None and expires_at <= at:
            value, expires_at = counter.initial, None
        if start is None or (life.period_start is not None and life.period_start >= start):
            kept = life.period_start if start is not None else None
            return value, (life if kept is life.period_start and expires_at is life.expires_at else CounterLife(kept, expires_at))
        if life.period_start is None:
            return value, CounterLife(start, expires_at)  # Stored before the counter had periods: it belongs to this one.
        return counter.initial, CounterLife(start, None)

    def changes(self) -> tuple[tuple[CounterChange, ...], list[Notification]]:
        """The counters the item changed (or moved to a new period), in key order, and the thresholds they crossed."""
        seen = self.seen
        if not seen:
            return (), []
        stored, lives = self.state.counters, self.state.lives
        changes: list[CounterChange] = []
        crossings: list[Notification] = []
        for key in sorted(seen) if len(seen) > 1 else seen:
            after, before, life, counter = seen[key]
            if after == before and (key not in stored or life is lives.get(key, NO_LIFE) or life == lives.get(key, NO_LIFE)):
                continue
            changes.append(
                CounterChange(key, counter.unit, counter.in_unit(before), counter.in_unit(after), life.period_start, life.expires_at)
            )
            if counter.thresholds:
                crossings.extend(_crossed(key, counter.thresholds, before, after))
        return tuple(changes), crossings


def in_base(value: ExactInput, factor: int) -> Exact:
    """A counter value in its unit, in base units: an int when it is whole."""
    if type(value) is int:
        return value * factor
    if isinstance(value, Fraction):
        numerator, denominator = value.numerator * factor, value.denominator
    else:
        assert isinstance(value, Decimal), f"an exact number, got {type(value).__name__}"
        numerator, denominator = value.as_integer_ratio()
        numerator *= factor
    whole, rest = divmod(numerator, denominator)
    return whole if rest == 0 else Fraction(numerator, denominator)


def _crossed(key: CounterKey, thresholds: tuple[tuple[CounterThreshold, Exact], ...], before: Exact, after: Exact) -> list[Notification]:
    """A ``threshold_crossed`` notification for each threshold an item moved its counter across."""
    crossed = []
    for threshold, value in thresholds:
        going_up = threshold.direction is ThresholdDirection.UP
        if (before < value <= after) if going_up else (before > value >= after):
            text = to_text(threshold.value)
            crossed.append(
                Notification(
                    NotificationKind.THRESHOLD_CROSSED,
                    f"counter {key.name!r} crossed {text} going {threshold.direction}",
                    {"counter": key.name, "value": text, "direction": threshold.direction.value},
                )
            )
    return crossed

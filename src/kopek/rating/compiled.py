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

from collections.abc import Callable, Mapping
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
from kopek.money import Exact, ExactInput, ExactRounding, exact, ratio, to_text
from kopek.rating.outcome import RatingOutcome
from kopek.rating.price_tree import NodePrice, NodeTrace, PriceFn, TreeScope, compile_tree
from kopek.rating.state import NO_LIFE, CounterLife, RatingState

_DERIVED_KEY: Final = "kopek.rating.compiled"
_TRACED_KEY: Final = "kopek.rating.compiled.traced"


def compiled(catalog: Catalog) -> CompiledCatalog:
    """The compiled form of ``catalog``, made on first use and kept with it."""
    return catalog.derived(_DERIVED_KEY, CompiledCatalog)


def compiled_traced(catalog: Catalog) -> CompiledCatalog:
    """The compiled form of ``catalog`` whose nodes record their part (price enquiries), made on first use."""
    return catalog.derived(_TRACED_KEY, lambda catalog: CompiledCatalog(catalog, traced=True))


ChargeTrace = tuple[NodePrice, ...]
"""The nodes of one charge's tree that priced an item (:class:`~kopek.rating.price_tree.NodePrice`)."""


def rate_item(catalog: Catalog, state: RatingState, item: TypedItem) -> RatingOutcome:
    """Price ``item`` under every applicable charge of ``state``'s contract."""
    last = _last
    found = last[1] if last is not None and last[0] is catalog else _compiled_last(catalog)
    contract, at, klass = state.contract, item.consumption_date, item.item_class
    path = found.paths.get((contract.id, klass.name)) if state.parent is None else None
    # The path holds for the contract as it was (its items, and its start, which a reset per activation reads),
    # for this item class, while the same plan versions are in effect.
    if (
        path is None
        or (path.bounded and not path.start <= at < path.end)
        or path.klass is not klass
        or (contract is not path.contract and (contract.items != path.items or contract.valid_from != path.valid_from))
    ):
        path = found.path(state, klass, at)
    return path.rate(state, item.properties, at)


def _compiled_last(catalog: Catalog) -> CompiledCatalog:
    """The compiled form of ``catalog``, kept as the last one used: callers rate item after item in one catalog
    version, and finding it by identity costs less than asking the catalog for it."""
    global _last
    found = compiled(catalog)
    _last = (catalog, found)
    return found


_last: tuple[Catalog, CompiledCatalog] | None = None


class CompiledCatalog:
    """The plans of a catalog, compiled on first use, by name and version; the charges that apply to each
    (contract, item class), with their counters bound, kept between items."""

    def __init__(self, catalog: Catalog, *, traced: bool = False) -> None:
        self.catalog = catalog
        self._traced = traced
        self._versions: dict[str, tuple[tuple[datetime | None, CompiledPlan], ...]] = {}
        self.paths: dict[tuple[str, str], _Path] = {}
        """The path of each (contract id, item class name) met so far (a linked contract's is made for each item)."""

    def versions(self, name: str) -> tuple[tuple[datetime | None, CompiledPlan], ...]:
        """The versions of plan ``name``, newest first, each with the instant it takes effect (none: always)."""
        versions = self._versions.get(name)
        if versions is None:
            versions = self._versions[name] = tuple(
                (_day_start(plan.effective_from), CompiledPlan(self.catalog, plan, traced=self._traced))
                for plan in reversed(self.catalog.charge_plan_versions(name))
            )
        return versions

    def plan_at(self, name: str, at: datetime) -> CompiledPlan | None:
        """The version of plan ``name`` in effect at ``at`` (the UTC date of ``at``), compiled; none when none is."""
        for start, plan in self.versions(name):
            if start is None or start <= at:
                return plan
        return None

    def rate_traced(self, state: RatingState, item: TypedItem) -> tuple[RatingOutcome, tuple[ChargeTrace, ...]]:
        """:func:`rate_item`, with the nodes each charge's tree went through, one trace per charged item (a catalog
        compiled ``traced``: its trees record their part; charging's closures never do)."""
        assert self._traced, "only a catalog compiled traced records its nodes"
        at, klass = item.consumption_date, item.item_class
        path = self.path(state, klass, at)
        if not path.steps:
            path.rate(state, item.properties, at)  # refuses: no charge for the item class
        base, shown = _quantity(item.properties, path.quantity, path.factor)
        run = _Run(state, item.properties, at, ())
        found, traces = [], []
        for contract_item_id, bound, charges in path.steps:
            run.bound = bound
            for charge in charges:
                trace = run.trace = NodeTrace()
                found.append(charge.apply(run, contract_item_id, shown, base, path.unit))
                traces.append(trace.nodes())
        return _outcome(run, tuple(found)), tuple(traces)

    def path(self, state: RatingState, klass: ItemClass, at: datetime) -> _Path:
        """The charges of ``item_class`` that each contract item's plan (the version in effect at ``at``) applies, with
        the plan's counters bound, and the span of time over which these versions stay in effect."""
        contract, parent = state.contract, state.parent
        parents = self._parent_counters(parent, at) if parent is not None else {}
        steps = []
        start, end = _EARLIEST, _LATEST
        for contract_item in contract.items:
            versions = self.versions(contract_item.charge_plan)
            index = next((index for index, (since, _) in enumerate(versions) if since is None or since <= at), None)
            if index is None:
                raise _unknown_plan(self.catalog, contract_item, at)
            since, plan = versions[index]
            start = max(start, since or _EARLIEST)
            end = min(end, versions[index - 1][0] or _LATEST) if index > 0 else end
            charges = plan.charges_of(klass.name)
            if charges:
                steps.append((contract_item.id, plan.bind(contract, contract_item, parent, parents), charges))
        path = _Path(contract, klass, start, end, tuple(steps))
        if parent is None:
            if len(self.paths) >= limits.RATING_PATHS_KEPT_MAX:
                self.paths.clear()
            self.paths[contract.id, klass.name] = path
        return path

    def _parent_counters(self, parent: Contract, at: datetime) -> dict[str, tuple[CounterSpec, ChargePlan]]:
        """The contract counters that a linked contract takes from its parent: those its parent's plans declare at ``at``."""
        declared: dict[str, tuple[CounterSpec, ChargePlan]] = {}
        for contract_item in parent.items:
            found = self.plan_at(contract_item.charge_plan, at)
            if found is None:
                raise _unknown_plan(self.catalog, contract_item, at)
            for spec in found.plan.counters:
                if spec.scope is CounterScope.CONTRACT:
                    declared.setdefault(spec.name, (spec, found.plan))
        return declared


_new: Final = tuple.__new__
"""Makes a named tuple of rating (a charged item, an outcome) from a tuple of its fields without a Python call."""
_SMALL: Final = {whole: Decimal(whole) for whole in range(1, 1025)}
"""The Decimal of the commonest whole quantities (one event, a message, a second), made once."""
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
_LATEST: Final = datetime.max.replace(tzinfo=UTC)


def _unknown_plan(catalog: Catalog, contract_item: ContractItem, at: datetime) -> PrerequisiteMissingError:
    known = catalog.charge_plan(contract_item.charge_plan) is not None
    return PrerequisiteMissingError(
        code=Code.CHARGE_PLAN_UNKNOWN,
        message=f"contract item {contract_item.id!r} activates unknown charge plan {contract_item.charge_plan!r}"
        + (f" (no version in effect on {at.astimezone(UTC).date().isoformat()})" if known else ""),
    )


class _Path:
    """What rating a contract's items of one class goes through: per contract item whose plan prices the class,
    its id, its plan's counters bound to their keys and the charges; valid for the contract as it was (its items and
    start) and the item class, from ``start`` to ``end``, the span in which the same plan versions are in effect.
    The class's quantity property, its unit and that unit's base factor come along."""

    __slots__ = ("bounded", "contract", "end", "factor", "items", "klass", "quantity", "rate", "start", "steps", "unit", "valid_from")

    def __init__(
        self,
        contract: Contract,
        klass: ItemClass,
        start: datetime,
        end: datetime,
        steps: tuple[tuple[str, tuple[BoundCounter, ...], tuple[CompiledCharge, ...]], ...],
    ) -> None:
        self.contract, self.items, self.valid_from = contract, contract.items, contract.valid_from
        self.klass, self.quantity, self.unit = klass, klass.quantity, klass.quantity_unit
        self.factor = self.unit.base_factor if self.unit is not None else 1
        self.start, self.end, self.steps = start, end, steps
        self.bounded = start != _EARLIEST or end != _LATEST
        """Whether the path holds for a span of time only (a plan on it has versions that take effect on a date)."""
        self.rate: Callable[[RatingState, Mapping[str, PropertyValue], datetime], RatingOutcome] = (
            _one_charge(self, *steps[0][:2], steps[0][2][0]) if len(steps) == 1 and len(steps[0][2]) == 1 else _charges(self)
        )
        """Rates an item of the path (state, properties, consumption date): one function made for the path, with what
        it reads of the path, the charge and the counters bound in its closure (the commonest path, one contract item
        with one charge, has its own)."""


def _quantity(properties: Mapping[str, PropertyValue], name: str | None, factor: int) -> tuple[Exact, Decimal]:
    """An item's quantity in base units, and as the item gave it (a Decimal in the class's unit)."""
    value = properties[name] if name is not None else 0
    if type(value) is int:
        return value * factor, _SMALL.get(value) or Decimal(value)
    if type(value) is Decimal and value == (whole := int(value)):
        return whole * factor, value
    assert isinstance(value, Decimal | int), "an item's quantity is a number (typed against its class)"
    return in_base(value, factor), value if type(value) is Decimal else Decimal(value)


def _outcome(run: _Run, charged: tuple[ChargedItem, ...]) -> RatingOutcome:
    """The outcome of an item whose charges are ``charged``, with the counters it changed and its notifications."""
    notes = run.notes
    if run.seen is None:
        return _new(RatingOutcome, (charged, (), tuple(notes) if notes is not None else ()))
    changes, crossings = run.changes()
    if crossings:
        notes = notes + crossings if notes is not None else crossings
    return _new(RatingOutcome, (charged, changes, tuple(notes) if notes is not None else ()))


def _no_charge(path: _Path) -> Callable[[RatingState, Mapping[str, PropertyValue], datetime], RatingOutcome]:
    def refuse(state: RatingState, properties: Mapping[str, PropertyValue], at: datetime) -> RatingOutcome:
        raise IllegalStateError(
            code=Code.NO_CHARGE_FOR_ITEM_CLASS,
            reason=Reason.NOT_AUTHORIZED,
            message=f"contract {state.contract.id!r} has no charge for item class {path.klass.name!r}",
        )

    return refuse


def _charges(path: _Path) -> Callable[[RatingState, Mapping[str, PropertyValue], datetime], RatingOutcome]:
    """Rates an item of ``path``: every charge of every contract item on it, in contract order."""
    steps, name, factor, unit = path.steps, path.quantity, path.factor, path.unit
    if not steps:
        return _no_charge(path)

    def rate(state: RatingState, properties: Mapping[str, PropertyValue], at: datetime) -> RatingOutcome:
        base, shown = _quantity(properties, name, factor)
        run = _Run(state, properties, at, ())
        found = []
        for contract_item_id, bound, charges in steps:
            run.bound = bound
            for charge in charges:
                found.append(charge.apply(run, contract_item_id, shown, base, unit))
        return _outcome(run, tuple(found))

    return rate


def _one_charge(
    path: _Path, contract_item_id: str, bound: tuple[BoundCounter, ...], charge: CompiledCharge
) -> Callable[[RatingState, Mapping[str, PropertyValue], datetime], RatingOutcome]:
    """Rates an item of ``path``, which applies one charge: :meth:`CompiledCharge.apply` and :func:`_outcome` in one
    function, with what they read bound here."""
    name, factor, unit = path.quantity, path.factor, path.unit
    price, amounts, updates = charge.price, charge.amounts, charge.updates
    round_whole, denominator, kept_max = charge.round, charge.denominator, limits.ROUNDED_AMOUNTS_KEPT_MAX
    plan_name, charge_name, role, currency, output = charge.fields
    small, bases = _SMALL, charge.bases

    def rate(state: RatingState, properties: Mapping[str, PropertyValue], at: datetime) -> RatingOutcome:
        value = properties[name] if name is not None else 0
        if type(value) is int:
            base: Exact = value * factor
            shown = small.get(value) or Decimal(value)
        elif type(value) is Decimal:
            shown = value
            found = bases.get(value)
            if found is None:
                found = in_base(value, factor)
                if len(bases) < kept_max:
                    bases[value] = found
            base = found
        else:
            base, shown = _quantity(properties, name, factor)
        run = _Run(state, properties, at, bound)
        total = price(base, run)
        if type(total) is int:
            amount = amounts.get(total)
            if amount is None:
                amount = round_whole(total, denominator)
                if len(amounts) < kept_max:
                    amounts[total] = amount
        else:
            amount = charge.rounded(total)
        if updates:
            charge.update(run, base, amount)
        charged = (_new(ChargedItem, (contract_item_id, plan_name, charge_name, role, amount, currency, shown, unit, output)),)
        if run.seen is None and run.notes is None:
            return _new(RatingOutcome, (charged, (), ()))
        return _outcome(run, charged)

    return rate


def _day_start(day: date | None) -> datetime | None:
    """The first instant of a UTC date: an instant is on or after the date when it is on or after this."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day is not None else None


class CompiledPlan:
    """One version of a charge plan: its counters as slots, its charges compiled per item class."""

    def __init__(self, catalog: Catalog, plan: ChargePlan, *, traced: bool = False) -> None:
        self.catalog = catalog
        self.plan = plan
        self._traced = traced
        self._slots = {spec.name: (slot, spec.unit) for slot, spec in enumerate(plan.counters)}
        self._charges: dict[str, tuple[CompiledCharge, ...]] = {}

    def charges_of(self, item_class: str) -> tuple[CompiledCharge, ...]:
        """The plan's charges of ``item_class``, in plan order, compiled on first use."""
        found = self._charges.get(item_class)
        if found is None:
            klass = self.catalog.item_class(item_class)
            scope = TreeScope(
                self._slots, klass.quantity_unit if klass is not None else None, self.catalog.holiday_dates, traced=self._traced
            )
            found = self._charges[item_class] = tuple(
                CompiledCharge(self.plan, charge, scope) for charge in self.plan.charges if charge.item_class == item_class
            )
        return found

    def bind(
        self,
        contract: Contract,
        contract_item: ContractItem,
        parent: Contract | None,
        parents: Mapping[str, tuple[CounterSpec, ChargePlan]],
    ) -> tuple[BoundCounter, ...]:
        """Each counter slot of the plan bound to the value it reads and writes for ``contract_item`` (the parent's
        counter for a contract counter that a linked contract's parent declares)."""
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

    __slots__ = ("_period", "cycle", "factor", "initial", "key", "memo", "plain", "thresholds", "unit")

    def __init__(self, key: CounterKey, spec: CounterSpec, cycle: Cycle | None) -> None:
        self.key = key
        self.unit = spec.unit
        self.factor = int(spec.unit.base_factor)
        self.initial = in_base(spec.initial, self.factor)
        self.thresholds = tuple((threshold, in_base(threshold.value, self.factor)) for threshold in spec.thresholds)
        self.cycle = cycle
        self._period: tuple[datetime, datetime] | None = None
        """The last period asked for, (start, next start): items come mostly in time order."""
        self.plain = cycle is None and key.scope is not CounterScope.TRANSIENT
        """Whether the value is stored and has no reset periods (it may still lapse)."""
        self.memo: tuple[ExactInput | None, Exact] = (None, 0)
        """The last value rating gave this counter in its unit, and in base units: the value stored after an item is
        the value the next item reads, and a fraction costs more to convert than to recognise."""

    def base_of(self, stored: ExactInput) -> Exact:
        """A stored value (in the counter's unit) in base units."""
        memo = self.memo
        return memo[1] if memo[0] is stored else in_base(stored, self.factor)

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

    __slots__ = ("amounts", "bases", "denominator", "fields", "price", "round", "updates")

    def __init__(self, plan: ChargePlan, charge: Charge, scope: TreeScope) -> None:
        priced = compile_tree(charge.price, scope)
        self.price: PriceFn = priced.price
        self.denominator = priced.denominator
        self.round = ExactRounding(charge.rounding.decimals, charge.rounding.mode, kept_max=limits.ROUNDED_AMOUNTS_KEPT_MAX)
        self.amounts: dict[int, Decimal] = {}
        """The rounded amount of each whole total (times the denominator) met so far: a tariff's totals repeat."""
        self.bases: dict[Decimal, Exact] = {}
        """The quantity in base units of each Decimal quantity of its item class met so far (up to the kept amounts'
        limit): finding a duration of 231 s costs less than reading it as an exact number."""
        self.fields = (plan.name, charge.name, charge.account_role, plan.currency, charge.output)
        """The charged item's fields that are the charge's: plan, charge, account role, currency, output."""
        self.updates = tuple(
            (scope.counters[update.counter][0], update.add is CounterAddend.QUANTITY, update.add is CounterAddend.AMOUNT)
            for update in charge.counter_updates
        )
        """Per counter update: the counter's slot, whether it adds the quantity, whether it adds the amount (else one)."""

    def apply(self, run: _Run, contract_item_id: str, quantity: Decimal, base: Exact, unit: Unit | None) -> ChargedItem:
        """Price the item (``quantity`` in its unit, ``base`` in base units), round once, update the counters."""
        total = self.price(base, run)
        amount = self.amounts.get(total) if type(total) is int else None
        if amount is None:
            amount = self.rounded(total)
        if self.updates:
            self.update(run, base, amount)
        plan_name, charge_name, role, currency, output = self.fields
        return _new(ChargedItem, (contract_item_id, plan_name, charge_name, role, amount, currency, quantity, unit, output))

    def rounded(self, total: Exact) -> Decimal:
        """The amount of a ``total`` the tree gave (times its denominator), rounded once."""
        if type(total) is int:
            amount = self.round(total, self.denominator)
            if len(self.amounts) < limits.ROUNDED_AMOUNTS_KEPT_MAX:
                self.amounts[total] = amount
            return amount
        assert isinstance(total, Fraction)
        return self.round(total.numerator, total.denominator * self.denominator)

    def update(self, run: _Run, base: Exact, amount: Decimal) -> None:
        """The charge's counter updates: each counter moved by the quantity, the amount or one."""
        for slot, adds_quantity, adds_amount in self.updates:
            if adds_quantity:
                addend: Exact = base
            elif adds_amount:
                addend = exact(amount) * run.bound[slot].factor
            else:
                addend = run.bound[slot].factor
            run.write(slot, run.read(slot) + addend)


class _Run:
    """One item being rated: its properties and date, and each counter it changed or moved to a new period, by key:
    its value now and before the item (base units), its period, and its bound counter."""

    __slots__ = ("at", "bound", "last", "notes", "properties", "seen", "state", "trace")

    def __init__(self, state: RatingState, properties: Mapping[str, PropertyValue], at: datetime, bound: tuple[BoundCounter, ...]) -> None:
        self.state = state
        self.properties = properties
        self.at = at
        self.bound = bound
        """The counters of the plan whose charge is being applied, by slot (set before each contract item's charges)."""
        self.seen: dict[CounterKey, list[Any]] | None = None
        """Per counter key: [value now, value before the item, CounterLife, BoundCounter, the stored value in the
        counter's unit when the value before is that (else None)]; none until the item changes a counter."""
        self.last: tuple[CounterKey, Exact, CounterLife, ExactInput | None] | None = None
        """The counter read last when it is not in ``seen``, as an entry of ``seen`` (a write follows its read)."""
        self.notes: list[Notification] | None = None
        """The item's notifications so far (none: none yet)."""
        self.trace: NodeTrace | None = None
        """Where the nodes of a traced tree record their part (untraced trees never look)."""

    def read(self, slot: int) -> Exact:
        counter = self.bound[slot]
        key = counter.key
        seen = self.seen
        if seen is not None:
            entry = seen.get(key)
            if entry is not None:
                return entry[0]  # type: ignore[no-any-return]
        last = self.last
        if last is not None and last[0] is key:
            return last[1]
        state = self.state
        if counter.plain and not state.held:
            # The commonest read: a counter without reset periods, nothing held by sessions, nothing lapsing.
            stored = state.counters.get(key)
            if stored is None:
                self.last = (key, counter.initial, NO_LIFE, None)
                return counter.initial
            lives = state.lives
            life = lives.get(key, NO_LIFE) if lives else NO_LIFE
            if life is NO_LIFE or (life.expires_at is None and life.period_start is None):
                value = stored * counter.factor if type(stored) is int else counter.base_of(stored)
                self.last = (key, value, life, stored)
                return value
        value, life, moved, stored = self._current(counter)
        # A counter only read is kept only when the item moves it to a new period, which is a change to store.
        if moved:
            if seen is None:
                seen = self.seen = {}
            seen[key] = [value, value, life, counter, stored]
        else:
            self.last = (key, value, life, stored)
        return value

    def write(self, slot: int, value: Exact) -> None:
        counter = self.bound[slot]
        key = counter.key
        seen = self.seen
        if seen is None:
            seen = self.seen = {}
        else:
            entry = seen.get(key)
            if entry is not None:
                entry[0] = value
                return
        last = self.last
        if last is not None and last[0] is key:
            seen[key] = [value, last[1], last[2], counter, last[3]]
        else:
            before, life, _, stored = self._current(counter)
            seen[key] = [value, before, life, counter, stored]

    def notify(self, notification: Notification) -> None:
        if self.notes is None:
            self.notes = [notification]
        else:
            self.notes.append(notification)

    def _current(self, counter: BoundCounter) -> tuple[Exact, CounterLife, bool, ExactInput | None]:
        """The counter's value when the item starts using it, its period, whether that period is not the stored
        one (a change to store even if the value stays), and the stored value when it is the value: its stored value
        unless it lapsed or its reset period ended, plus what the live grants hold of it in that period (of every
        session but the one being rated: see :attr:`RatingState.held`).

        Resets are lazy: a value is reset by the first item of a new period, at that item's consumption
        date. An item dated before the stored value's period (a late CDR) is counted in the stored period:
        periods never go back.
        """
        key, state = counter.key, self.state
        stored = state.counters.get(key) if key.scope is not CounterScope.TRANSIENT else None
        kept: ExactInput | None = None
        if key.scope is CounterScope.TRANSIENT:
            moved = state.session_moves.get(key)
            value, life, changed = counter.initial + (in_base(moved, counter.factor) if moved is not None else 0), NO_LIFE, False
        elif stored is None:
            if counter.cycle is None:
                value, life, changed = counter.initial, NO_LIFE, False
            else:
                value, life, changed = counter.initial, CounterLife(counter.period_start(self.at), None), False
        else:
            stored_life = state.lives.get(key, NO_LIFE)
            if counter.cycle is None and stored_life.expires_at is None and stored_life.period_start is None:
                value, life, changed, kept = counter.base_of(stored), stored_life, False, stored
            else:
                value, life = self._stored(counter, stored, stored_life)
                changed = life is not stored_life and life != stored_life
        if state.held:
            held = state.held_in(key, life.period_start)
            if held:
                value, kept = value + held * counter.factor, None
        return value, life, changed, kept

    def _stored(self, counter: BoundCounter, stored: ExactInput, life: CounterLife) -> tuple[Exact, CounterLife]:
        """A stored value with its stored period and expiry (``life``): lapsed, reset or kept at the item's date."""
        at = self.at
        start = counter.period_start(at) if counter.cycle is not None else None
        value, expires_at = counter.base_of(stored), life.expires_at
        if expires_at is not None and expires_at <= at:
            value, expires_at = counter.initial, None
        if start is None or (life.period_start is not None and life.period_start >= start):
            kept = life.period_start if start is not None else None
            return value, (life if kept is life.period_start and expires_at is life.expires_at else CounterLife(kept, expires_at))
        if life.period_start is None:
            return value, CounterLife(start, expires_at)  # Stored before the counter had periods: it belongs to this one.
        return counter.initial, CounterLife(start, None)

    def changes(self) -> tuple[tuple[CounterChange, ...], list[Notification] | None]:
        """The counters the item changed (or moved to a new period), in key order, and the thresholds they crossed
        (none: none)."""
        seen, state = self.seen, self.state
        assert seen is not None, "asked only when the item changed a counter"
        stored, lives, held = state.counters, state.lives, state.held
        changes: list[CounterChange] = []
        crossings: list[Notification] | None = None
        for key in sorted(seen) if len(seen) > 1 else seen:
            after, before, life, counter, kept = seen[key]
            if after == before and (key not in stored or life is lives.get(key, NO_LIFE) or life == lives.get(key, NO_LIFE)):
                continue
            factor = counter.factor
            if held:
                # Read with the grants' holds on top; what is stored, and what crosses thresholds, is the value without.
                holding = state.held_in(key, life.period_start)
                if holding:
                    before, after = before - holding * factor, after - holding * factor
            if kept is None:
                before_in_unit = counter.in_unit(before)
            elif type(kept) is int or kept is counter.memo[0]:
                before_in_unit = kept
            else:
                before_in_unit = exact(kept)
            if factor == 1:
                after_in_unit = after
            else:
                after_in_unit = Fraction(after, factor) if type(after) is int and after % factor else ratio(after, factor)
                counter.memo = (after_in_unit, after)
            changes.append(_new(CounterChange, (key, counter.unit, before_in_unit, after_in_unit, life.period_start, life.expires_at)))
            if counter.thresholds:
                crossed = thresholds_crossed(key, counter.thresholds, before, after)
                if crossed:
                    crossings = crossings + crossed if crossings is not None else crossed
        return tuple(changes), crossings


def in_base(value: ExactInput, factor: int) -> Exact:
    """A counter value in its unit, in base units: an int when it is whole."""
    if type(value) is int:
        return value * factor
    if type(value) is Decimal:
        whole = int(value)
        if value == whole:
            return whole * factor
    if isinstance(value, Fraction):
        numerator, denominator = value.numerator * factor, value.denominator
    else:
        assert isinstance(value, Decimal), f"an exact number, got {type(value).__name__}"
        numerator, denominator = value.as_integer_ratio()
        numerator *= factor
    whole, rest = divmod(numerator, denominator)
    return whole if rest == 0 else Fraction(numerator, denominator)


def thresholds_crossed(
    key: CounterKey, thresholds: tuple[tuple[CounterThreshold, Exact], ...], before: Exact, after: Exact
) -> list[Notification]:
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

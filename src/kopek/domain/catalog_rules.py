"""Cross-reference rules of a catalog, checked after parsing; every fault is collected.

Parsing (pydantic) proves each record well-formed on its own. These rules prove
the records fit together: charges name existing classes and counters, nodes read
properties of the right type, units share a dimension, bands ascend.
"""

from __future__ import annotations

from collections.abc import Iterator

from kopek import limits
from kopek.domain.catalog import (
    AllowanceNode,
    Calendar,
    CapNode,
    Catalog,
    Charge,
    ChargePlan,
    ConnectFeeNode,
    CounterReset,
    CounterScope,
    DiscountNode,
    FeeKind,
    ItemClass,
    PrefixNode,
    PriceNode,
    PropertyType,
    RangeNode,
    RateNode,
    ScheduleNode,
    SumNode,
    SwitchNode,
    TiersNode,
    minutes_of_day,
)
from kopek.domain.units import Unit
from kopek.errors import ErrorDetail

Path = tuple[str | int, ...]
_NUMERIC = (PropertyType.DECIMAL, PropertyType.INTEGER)


def check_catalog(catalog: Catalog) -> list[ErrorDetail]:
    """Every cross-reference fault of ``catalog``; empty when it is consistent."""
    faults = list(_check_names(catalog))
    for index, item_class in enumerate(catalog.item_classes):
        faults.extend(_check_item_class(item_class, ("item_classes", index)))
    contract_counters: dict[str, tuple[object, ...]] = {}
    for plan_index, plan in enumerate(catalog.charge_plans):
        path: Path = ("charge_plans", plan_index)
        faults.extend(_check_plan_counters(plan, path, contract_counters))
        for charge_index, charge in enumerate(plan.charges):
            faults.extend(_check_charge(catalog, plan, charge, (*path, "charges", charge_index)))
        for name in sorted(_duplicates([fee.name for fee in plan.fees])):
            faults.append(ErrorDetail(f"fee {name!r} is defined more than once", (*path, "fees")))
    faults.extend(_check_refill_plans(catalog))
    return faults


_BONUS_SCOPES = (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM)


def _check_refill_plans(catalog: Catalog) -> Iterator[ErrorDetail]:
    """Refill plans have distinct names; a bonus goes to a contract or contract-item counter some charge plan declares."""
    for name in sorted(_duplicates([plan.name for plan in catalog.refill_plans])):
        yield ErrorDetail(f"refill plan {name!r} is defined more than once", ("refill_plans",))
    for index, refill_plan in enumerate(catalog.refill_plans):
        if refill_plan.bonus is None:
            continue
        counter = refill_plan.bonus.counter
        declared = [spec for plan in catalog.charge_plans for spec in plan.counters if spec.name == counter]
        path: Path = ("refill_plans", index, "bonus", "counter")
        if not declared:
            yield ErrorDetail(f"no charge plan declares the bonus counter {counter!r}", path)
        elif not any(spec.scope in _BONUS_SCOPES for spec in declared):
            yield ErrorDetail(f"bonus counter {counter!r} must have scope contract or contract_item", path)


def _duplicates(names: list[str]) -> set[str]:
    return {name for name in names if names.count(name) > 1}


def _check_names(catalog: Catalog) -> Iterator[ErrorDetail]:
    kinds: tuple[tuple[str, tuple[ItemClass, ...] | tuple[Calendar, ...]], ...] = (
        ("item_classes", catalog.item_classes),
        ("calendars", catalog.calendars),
    )
    for kind, records in kinds:
        for name in sorted(_duplicates([record.name for record in records])):
            yield ErrorDetail(f"{name!r} is defined more than once", (kind,))
    for code in sorted(_duplicates([scale.code for scale in catalog.currencies])):
        yield ErrorDetail(f"currency {code!r} is declared more than once", ("currencies",))
    # Versions of one plan share its name and differ by the day they take effect.
    versions = [f"{plan.name}@{plan.effective_from}" for plan in catalog.charge_plans]
    for name in sorted(_duplicates(versions)):
        plan_name, effective_from = name.rsplit("@", 1)
        if effective_from == "None":
            yield ErrorDetail(f"{plan_name!r} is defined more than once", ("charge_plans",))
        else:
            yield ErrorDetail(f"{plan_name!r} is defined more than once with effective_from {effective_from}", ("charge_plans",))


def _check_item_class(item_class: ItemClass, path: Path) -> Iterator[ErrorDetail]:
    for name in sorted(_duplicates([spec.name for spec in item_class.properties])):
        yield ErrorDetail(f"property {name!r} is defined more than once", (*path, "properties"))
    if item_class.quantity is None:
        return
    spec = item_class.property_spec(item_class.quantity)
    if spec is None:
        yield ErrorDetail(f"quantity names unknown property {item_class.quantity!r}", (*path, "quantity"))
    elif spec.type not in _NUMERIC or spec.unit is None:
        yield ErrorDetail("the quantity property must be a decimal or integer with a unit", (*path, "quantity"))
    elif spec.unit is Unit.AMOUNT:
        yield ErrorDetail("the quantity property is usage, not money: its unit cannot be amount", (*path, "quantity"))
    elif not spec.required and spec.default is None:
        yield ErrorDetail("the quantity property must be required or have a default", (*path, "quantity"))


RESERVED_NAMESPACE = "contract"
"""Contract states carry the counters of scope ``contract`` in this namespace (kopek.migration.state.CONTRACT_NAMESPACE)."""


def _check_plan_counters(plan: ChargePlan, path: Path, contract_counters: dict[str, tuple[object, ...]]) -> Iterator[ErrorDetail]:
    for name in sorted(_duplicates([spec.name for spec in plan.counters])):
        yield ErrorDetail(f"counter {name!r} is defined more than once", (*path, "counters"))
    recurring = any(fee.kind is FeeKind.RECURRING for fee in plan.fees)
    for index, spec in enumerate(plan.counters):
        if spec.scope is CounterScope.SHARED and spec.namespace == RESERVED_NAMESPACE:
            yield ErrorDetail(
                f"namespace {RESERVED_NAMESPACE!r} is reserved for the counters of scope contract (contract states name them so)",
                (*path, "counters", index, "namespace"),
            )
        if spec.reset is CounterReset.PER_ACTIVATION and (not recurring or spec.scope is CounterScope.SHARED):
            yield ErrorDetail(
                f"counter {spec.name!r} resets per activation: its plan needs a recurring fee, and it cannot be shared",
                (*path, "counters", index, "reset"),
            )
    # A contract or shared counter is one value that several plans may declare: they must agree on it.
    for index, spec in enumerate(plan.counters):
        if spec.scope not in (CounterScope.CONTRACT, CounterScope.SHARED):
            continue
        identity = spec.name if spec.scope is CounterScope.CONTRACT else f"{spec.namespace}/{spec.name}"
        declared = (spec.unit, spec.initial, spec.reset, spec.anchor_day, spec.time_zone)
        seen = contract_counters.setdefault(f"{spec.scope}:{identity}", declared)
        if seen != declared:
            yield ErrorDetail(
                f"{spec.scope} counter {identity!r} is declared by several plans with a different unit, initial value or reset",
                (*path, "counters", index),
            )
    for name in sorted(_duplicates([charge.name for charge in plan.charges])):
        yield ErrorDetail(f"charge {name!r} is defined more than once", (*path, "charges"))


def _check_charge(catalog: Catalog, plan: ChargePlan, charge: Charge, path: Path) -> Iterator[ErrorDetail]:
    item_class = catalog.item_class(charge.item_class)
    if item_class is None:
        yield ErrorDetail(f"unknown item class {charge.item_class!r}", (*path, "item_class"))
        return
    for index, update in enumerate(charge.counter_updates):
        counter = plan.counter(update.counter)
        if counter is None:
            yield ErrorDetail(f"unknown counter {update.counter!r}", (*path, "counter_updates", index, "counter"))
        elif update.add.value == "quantity" and not _same_dimension(counter.unit, item_class.quantity_unit):
            yield ErrorDetail(
                f"counter {update.counter!r} is in {counter.unit}, not in the quantity's dimension", (*path, "counter_updates", index)
            )
    calendars = frozenset(calendar.name for calendar in catalog.calendars)
    yield from _check_node(charge.price, plan, item_class, (*path, "price"), depth=1, catalog_calendars=calendars)


def _same_dimension(unit: Unit, other: Unit | None) -> bool:
    return other is not None and unit.dimension is other.dimension


def _check_node(
    node: PriceNode, plan: ChargePlan, item_class: ItemClass, path: Path, *, depth: int, catalog_calendars: frozenset[str]
) -> Iterator[ErrorDetail]:
    if depth > limits.CATALOG_NODE_DEPTH_MAX:
        yield ErrorDetail(f"pricing tree deeper than {limits.CATALOG_NODE_DEPTH_MAX} nodes", path)
        return
    yield from _check_own(node, plan, item_class, path)
    if isinstance(node, ScheduleNode):
        yield from _check_schedule(node, catalog_calendars, path)
    for child_path, child in _children(node):
        yield from _check_node(child, plan, item_class, (*path, *child_path), depth=depth + 1, catalog_calendars=catalog_calendars)


def _children(node: PriceNode) -> Iterator[tuple[Path, PriceNode]]:
    if isinstance(node, ConnectFeeNode | AllowanceNode) and node.then is not None:
        yield ("then",), node.then
    elif isinstance(node, SumNode):
        yield from ((("parts", index), part) for index, part in enumerate(node.parts))
    elif isinstance(node, TiersNode):
        yield from ((("bands", index, "price"), band.price) for index, band in enumerate(node.bands))
    elif isinstance(node, SwitchNode):
        yield from ((("cases", key), case) for key, case in node.cases.items())
    elif isinstance(node, PrefixNode):
        yield from ((("prefixes", key), case) for key, case in node.prefixes.items())
    elif isinstance(node, RangeNode):
        yield from ((("ranges", index, "price"), band.price) for index, band in enumerate(node.ranges))
    elif isinstance(node, DiscountNode | CapNode):
        yield ("price",), node.price
    elif isinstance(node, ScheduleNode):
        yield from ((("windows", index, "price"), window.price) for index, window in enumerate(node.windows))
    if isinstance(node, SwitchNode | PrefixNode | RangeNode | ScheduleNode) and node.default is not None:
        yield ("default",), node.default


def _check_own(node: PriceNode, plan: ChargePlan, item_class: ItemClass, path: Path) -> Iterator[ErrorDetail]:
    quantity_unit = item_class.quantity_unit
    if isinstance(node, RateNode):
        if not _same_dimension(node.unit, quantity_unit):
            yield ErrorDetail(
                f"rate in {node.unit} but item class {item_class.name!r} measures {quantity_unit or 'no quantity'}", (*path, "unit")
            )
        if node.per_property is not None:
            yield from _check_property(item_class, node.per_property, _NUMERIC, (*path, "per_property"))
    elif isinstance(node, TiersNode):
        yield from _check_tiers(node, plan, quantity_unit, path)
    elif isinstance(node, AllowanceNode):
        counter = plan.counter(node.counter)
        if counter is None:
            yield ErrorDetail(f"unknown counter {node.counter!r}", (*path, "counter"))
        elif not _same_dimension(counter.unit, quantity_unit):
            yield ErrorDetail(
                f"allowance counter {node.counter!r} is in {counter.unit}, not in the quantity's dimension", (*path, "counter")
            )
    elif isinstance(node, CapNode) and node.counter is not None:
        counter = plan.counter(node.counter)
        if counter is None:
            yield ErrorDetail(f"unknown counter {node.counter!r}", (*path, "counter"))
        elif counter.unit is not Unit.AMOUNT:
            yield ErrorDetail(f"cap counter {node.counter!r} is in {counter.unit}, not in amount", (*path, "counter"))
    elif isinstance(node, SwitchNode | PrefixNode):
        kinds = (PropertyType.STRING,) if isinstance(node, PrefixNode) else tuple(PropertyType)
        yield from _check_property(item_class, node.property, kinds, (*path, "property"))
    elif isinstance(node, RangeNode):
        yield from _check_property(item_class, node.property, _NUMERIC, (*path, "property"))
        for index, band in enumerate(node.ranges):
            if band.from_ is not None and band.to is not None and band.from_ >= band.to:
                yield ErrorDetail("a range's 'from' must be below its 'to'", (*path, "ranges", index))


def _check_schedule(node: ScheduleNode, calendars: frozenset[str], path: Path) -> Iterator[ErrorDetail]:
    if node.calendar is not None and node.calendar not in calendars:
        yield ErrorDetail(f"unknown calendar {node.calendar!r}", (*path, "calendar"))
    for index, window in enumerate(node.windows):
        if minutes_of_day(window.from_) >= minutes_of_day(window.to):
            yield ErrorDetail(
                "a window's 'from' must be before its 'to' (split a window across midnight in two)", (*path, "windows", index)
            )


def _check_tiers(node: TiersNode, plan: ChargePlan, quantity_unit: Unit | None, path: Path) -> Iterator[ErrorDetail]:
    basis_unit = quantity_unit
    if node.counter is not None:
        counter = plan.counter(node.counter)
        if counter is None:
            yield ErrorDetail(f"unknown counter {node.counter!r}", (*path, "counter"))
            return
        basis_unit = counter.unit
    if quantity_unit is None or basis_unit is None or not _same_dimension(basis_unit, quantity_unit):
        yield ErrorDetail("tiers need a quantity in the same dimension as their basis", path)
    if node.unit is not None and not _same_dimension(node.unit, basis_unit):
        yield ErrorDetail(f"tier unit {node.unit} is not in the basis's dimension", (*path, "unit"))
    bounds = [band.up_to for band in node.bands]
    if any(bound is None for bound in bounds[:-1]):
        yield ErrorDetail("only the last band may be open-ended", (*path, "bands"))
    closed = [bound for bound in bounds if bound is not None]
    if closed != sorted(set(closed)):
        yield ErrorDetail("band bounds must strictly ascend", (*path, "bands"))


def _check_property(item_class: ItemClass, name: str, kinds: tuple[PropertyType, ...], path: Path) -> Iterator[ErrorDetail]:
    spec = item_class.property_spec(name)
    if spec is None:
        yield ErrorDetail(f"item class {item_class.name!r} has no property {name!r}", path)
    elif spec.type not in kinds:
        yield ErrorDetail(f"property {name!r} is {spec.type}, expected {' or '.join(kinds)}", path)

"""Checking one contract state against the catalog and the contract's master data (pure).

The checks run in a fixed order and the first failing one decides the error:
contract exists -> each contract item exists -> each counter is declared ->
in its unit -> not negative -> no date in the future -> no repeated counter or
activation -> contract is ``migrating``. Counters hold non-negative values: the
catalog has no way yet to declare a signed counter. A counter is declared when some
version of its contract item's charge plan declares it, in that scope and unit; an
activation's counters are the ``activation`` scope counters of its item's plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kopek.domain.catalog import Catalog, CounterScope, CounterSpec
from kopek.domain.master import ContractStatus
from kopek.domain.units import Unit
from kopek.errors import Code, DoesNotExistError, IllegalStateError, InvalidError, KopekError
from kopek.migration.state import CONTRACT_NAMESPACE, ContractState, CounterState, SharedCounterState, dates_of


@dataclass(frozen=True, slots=True)
class ContractFacts:
    """What restore needs to know of a stored contract: its status and its items' charge plans."""

    status: ContractStatus
    charge_plans: Mapping[str, str]


DeclaredUnits = Mapping[str, frozenset[Unit]]
"""Counter name -> the units some version of a plan declares it in."""


@dataclass(frozen=True, slots=True)
class CounterCatalog:
    """The counters a contract's catalog declares, over every version of each item's charge plan:
    shared ones (scope ``contract``) by name, item ones (scope ``contract_item``) and activation
    ones (scope ``activation``) by contract item id and name, pools (scope ``shared``) by namespace and name."""

    shared: DeclaredUnits
    by_item: Mapping[str, DeclaredUnits]
    by_activation_item: Mapping[str, DeclaredUnits]
    pools: Mapping[tuple[str, str], frozenset[Unit]] = field(default_factory=dict)


def counter_catalog(catalog: Catalog, facts: ContractFacts) -> CounterCatalog:
    """Every counter some version of the items' plans declares: a state may hold the counters of an
    older version (they live on until their reset), so any version's declaration admits a counter."""
    shared: dict[str, set[Unit]] = {}
    by_item: dict[str, DeclaredUnits] = {}
    by_activation_item: dict[str, DeclaredUnits] = {}
    pools: dict[tuple[str, str], set[Unit]] = {}
    for item_id, plan_name in facts.charge_plans.items():
        specs = [spec for plan in catalog.charge_plan_versions(plan_name) for spec in plan.counters]
        by_item[item_id] = _units(spec for spec in specs if spec.scope is CounterScope.CONTRACT_ITEM)
        by_activation_item[item_id] = _units(spec for spec in specs if spec.scope is CounterScope.ACTIVATION)
        for name, units in _units(spec for spec in specs if spec.scope is CounterScope.CONTRACT).items():
            shared.setdefault(name, set()).update(units)
        for spec in specs:
            if spec.scope is CounterScope.SHARED and spec.namespace is not None:
                pools.setdefault((spec.namespace, spec.name), set()).add(spec.unit)
    return CounterCatalog(
        {name: frozenset(units) for name, units in shared.items()},
        by_item,
        by_activation_item,
        {key: frozenset(units) for key, units in pools.items()},
    )


def pools_of(catalog: Catalog, charge_plans: Iterable[str]) -> set[tuple[str, str]]:
    """The (namespace, name) of every counter of scope ``shared`` that some version of these charge plans declares."""
    return {
        (spec.namespace, spec.name)
        for plan_name in set(charge_plans)
        for plan in catalog.charge_plan_versions(plan_name)
        for spec in plan.counters
        if spec.scope is CounterScope.SHARED and spec.namespace is not None
    }


def _units(specs: Iterable[CounterSpec]) -> DeclaredUnits:
    units: dict[str, set[Unit]] = {}
    for spec in specs:
        units.setdefault(spec.name, set()).add(spec.unit)
    return {name: frozenset(found) for name, found in units.items()}


class DeclaredCounters:
    """The counter catalogs of contracts, computed once per distinct set of contract items and plans."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._known: dict[tuple[tuple[str, str], ...], CounterCatalog] = {}

    def of(self, facts: ContractFacts) -> CounterCatalog:
        key = tuple(sorted(facts.charge_plans.items()))
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = counter_catalog(self._catalog, facts)
        return found


def check_contract_state(
    state: ContractState, facts: ContractFacts | None, catalog: Catalog | DeclaredCounters, *, now: datetime
) -> KopekError | None:
    """The first fault of ``state`` (``facts`` is None when the contract does not exist), or None."""
    contract = state.contract_id
    if facts is None:
        return DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {contract!r} does not exist")
    unknown_item = next((item.item_id for item in state.items if item.item_id not in facts.charge_plans), None)
    unknown_item = unknown_item or next((act.item_id for act in state.activations if act.item_id not in facts.charge_plans), None)
    if unknown_item is not None:
        return InvalidError(code=Code.CONTRACT_ITEM_UNKNOWN, message=f"contract {contract!r} has no contract item {unknown_item!r}")
    declared = (catalog if isinstance(catalog, DeclaredCounters) else DeclaredCounters(catalog)).of(facts)
    fault = _counters_fault(state, declared)
    if fault is not None:
        return fault
    future = next(((where, moment) for where, moment in dates_of(state) if moment > now), None)
    if future is not None:
        return InvalidError(
            code=Code.DATE_IN_THE_FUTURE,
            message=f"contract {contract!r}: {future[0]} {future[1].isoformat()} is after the current time {now.isoformat()}",
        )
    repeated = _repeated(state)
    if repeated is not None:
        return InvalidError(code=Code.CONTRACT_STATE_INVALID, message=f"contract {contract!r}: {repeated} appears more than once")
    if facts.status is not ContractStatus.MIGRATING:
        return IllegalStateError(
            code=Code.CONTRACT_NOT_MIGRATING,
            message=f"contract {contract!r} is {facts.status.value}, not migrating; begin the migration lock first",
        )
    return None


_Placed = tuple[str, str, CounterState | SharedCounterState, frozenset[Unit] | None]
"""Where a counter of a state is (a kind and its owner), the counter, and the units it is declared in (None: undeclared)."""


def _placed(state: ContractState, declared: CounterCatalog) -> Iterator[_Placed]:
    for shared in state.shared_counters:
        if shared.namespace == CONTRACT_NAMESPACE:
            yield "shared", shared.namespace, shared, declared.shared.get(shared.name)
        else:
            yield "shared", shared.namespace, shared, declared.pools.get((shared.namespace, shared.name))
    for item in state.items:
        units = declared.by_item[item.item_id]
        for counter in item.counters:
            yield "item", item.item_id, counter, units.get(counter.name)
    for activation in state.activations:
        units = declared.by_activation_item[activation.item_id]
        for counter in activation.counters:
            yield "activation", activation.id, counter, units.get(counter.name)


def _where(kind: str, owner: str, counter: CounterState | SharedCounterState) -> str:
    if kind == "shared":
        return f"shared counter {owner}/{counter.name}"
    return f"counter {counter.name} of {'item' if kind == 'item' else 'activation'} {owner!r}"


def _counters_fault(state: ContractState, declared: CounterCatalog) -> KopekError | None:
    contract = state.contract_id
    for kind, owner, counter, units in _placed(state, declared):
        if units is None:
            return InvalidError(
                code=Code.COUNTER_UNKNOWN, message=f"contract {contract!r}: the catalog declares no {_where(kind, owner, counter)}"
            )
        if counter.unit not in units:
            where = _where(kind, owner, counter)
            declared_units = " or ".join(sorted(unit.value for unit in units))
            return InvalidError(
                code=Code.COUNTER_UNIT_MISMATCH,
                message=f"contract {contract!r}: {where} is counted in {declared_units}, not {counter.unit.value}",
            )
        if counter.value < 0:
            where = _where(kind, owner, counter)
            return InvalidError(code=Code.COUNTER_VALUE_NEGATIVE, message=f"contract {contract!r}: {where} cannot hold {counter.value}")
    return None


def _repeated(state: ContractState) -> str | None:
    keys: list[tuple[str, ...]] = [("shared counter", counter.namespace, counter.name) for counter in state.shared_counters]
    keys += [("contract item", item.item_id) for item in state.items]
    keys += [("counter", item.item_id, counter.name) for item in state.items for counter in item.counters]
    keys += [("activation", activation.id) for activation in state.activations]
    keys += [("activation counter", activation.id, counter.name) for activation in state.activations for counter in activation.counters]
    if len(set(keys)) == len(keys):
        return None
    seen: set[tuple[str, ...]] = set()
    for key in keys:
        if key in seen:
            return " ".join(key)
        seen.add(key)
    raise AssertionError("a repeated key was counted")

"""Loading what rating a contract's item may read and change, with the locks that keep it exact.

The contract itself is locked by the caller first. Then, in this order: the parent
contract of a linked contract (whose contract counters the child uses), and the
shared counters of the namespaces its plans declare, each in one fixed order, so
that concurrent charges of contracts sharing them serialize without deadlock.
"""

from __future__ import annotations

from kopek.domain.catalog import Catalog, CounterScope
from kopek.domain.master import Contract
from kopek.rating.rate import RatingState
from kopek.store.counter_store import SharedCounterSpec
from kopek.store.uow import UnitOfWork


def load_rating_state(uow: UnitOfWork, catalog: Catalog, contract: Contract) -> RatingState:
    """The state rating needs for ``contract`` (locked by the caller): counters of its own, its parent's and shared ones."""
    values, lives = uow.counters.of_contract(contract.id)
    parent = None
    if contract.parent_id is not None:
        parent = uow.master.contract(contract.parent_id, lock=True)
        assert parent is not None, "a contract's parent exists (foreign key)"
        parent_values, parent_lives = uow.counters.of_contract(parent.id, contract_scope_only=True)
        values |= parent_values
        lives |= parent_lives
    shared_values, shared_lives = uow.counters.lock_shared(shared_counters_of(catalog, contract))
    return RatingState(contract, values | shared_values, lives | shared_lives, parent)


def shared_counters_of(catalog: Catalog, contract: Contract) -> list[SharedCounterSpec]:
    """The shared counters that any version of the contract's plans declares."""
    found: dict[tuple[str, str], SharedCounterSpec] = {}
    for contract_item in contract.items:
        for plan in catalog.charge_plan_versions(contract_item.charge_plan):
            for spec in plan.counters:
                if spec.scope is CounterScope.SHARED and spec.namespace is not None:
                    found.setdefault((spec.namespace, spec.name), SharedCounterSpec(spec.namespace, spec.name, spec.unit, spec.initial))
    return [found[key] for key in sorted(found)]

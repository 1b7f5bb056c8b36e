"""Loading what rating a contract's item may read and change, with the locks that keep it exact.

The contract itself is locked by the caller first. Then, in this order: the parent
contract of a linked contract (whose contract counters the child uses), and the
shared counters of the namespaces its plans declare, each in one fixed order, so
that concurrent charges of contracts sharing them serialize without deadlock.

What the live session grants hold of those counters comes with them: every grant is
written under the locks of the counters it holds, so the holds read here stay as
they are until this unit of work ends.
"""

from __future__ import annotations

from kopek.domain.catalog import Catalog, CounterScope
from kopek.domain.master import Contract
from kopek.rating.grant import added_holds
from kopek.rating.rate import RatingState
from kopek.store.counter_store import SharedCounterSpec
from kopek.store.uow import UnitOfWork


def load_rating_state(uow: UnitOfWork, catalog: Catalog, contract: Contract, *, session_id: str | None = None) -> RatingState:
    """The state rating needs for ``contract`` (locked by the caller): counters of its own, its parent's and shared ones,
    with what the live grants hold of them (all but the grant of session ``session_id``, when rating that session)."""
    values, lives = uow.counters.of_contract(contract.id)
    parent = None
    if contract.parent_id is not None:
        parent = uow.master.contract(contract.parent_id, lock=True)
        assert parent is not None, "a contract's parent exists (foreign key)"
        parent_values, parent_lives = uow.counters.of_contract(parent.id, contract_scope_only=True)
        values |= parent_values
        lives |= parent_lives
    shared = shared_counters_of(catalog, contract)
    shared_values, shared_lives = uow.counters.lock_shared(shared)
    holds = uow.sessions.holds_seen_by(
        contract.id, parent_id=contract.parent_id, shared=[(spec.namespace, spec.name) for spec in shared], excluding=session_id
    )
    return RatingState(contract, values | shared_values, lives | shared_lives, parent, held=added_holds(holds))


def shared_counters_of(catalog: Catalog, contract: Contract) -> list[SharedCounterSpec]:
    """The shared counters that any version of the contract's plans declares."""
    found: dict[tuple[str, str], SharedCounterSpec] = {}
    for contract_item in contract.items:
        for plan in catalog.charge_plan_versions(contract_item.charge_plan):
            for spec in plan.counters:
                if spec.scope is CounterScope.SHARED and spec.namespace is not None:
                    found.setdefault((spec.namespace, spec.name), SharedCounterSpec(spec.namespace, spec.name, spec.unit, spec.initial))
    return [found[key] for key in sorted(found)]

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

from decimal import Decimal
from typing import NamedTuple

from kopek.domain.catalog import Catalog, CounterScope
from kopek.domain.master import Account, AccountId, Contract
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


class LockedState(NamedTuple):
    """What a session step rates and posts against: the rating state, the accounts the contract's roles name (locked,
    in id order) and what the live reservations hold of them."""

    rating: RatingState
    accounts: dict[AccountId, Account]
    reserved: dict[AccountId, Decimal]


def load_locked_state(uow: UnitOfWork, catalog: Catalog, contract: Contract, *, session_id: str | None = None) -> LockedState:
    """The rating state of ``contract`` (locked by the caller), then its role accounts locked and their reservations,
    leaving out the holds and reservations of session ``session_id``: one batch of statements
    (:mod:`kopek.store.charge_store`), or a statement at a time when the catalog uses shared counters (they are locked
    before the accounts)."""
    if uses_shared_counters(catalog):
        state = load_rating_state(uow, catalog, contract, session_id=session_id)
        accounts = uow.master.lock_accounts(contract.roles.values())
        return LockedState(state, accounts, uow.sessions.reserved(accounts, excluding=[session_id] if session_id else []))
    read = uow.charge.read_of_contract(uow.batch(), contract, excluding_session=session_id or "")
    state = RatingState(contract, read.counters, read.lives, read.parent, held=added_holds(read.holds))
    return LockedState(state, read.accounts, read.reserved)


def uses_shared_counters(catalog: Catalog) -> bool:
    """Whether any plan of ``catalog`` declares a counter of scope ``shared`` (computed once per catalog)."""
    return catalog.derived(
        "uses_shared_counters",
        lambda found: any(spec.scope is CounterScope.SHARED for plan in found.charge_plans for spec in plan.counters),
    )

"""Partitions of a rating job: groups of CDRs that share no state, so workers can charge them apart.

A partition is normally one contract's CDRs. Contracts that share state are put in one
partition, because the order in which their CDRs are charged changes the outcome:
contracts paid by the same account, a linked contract and its parent, and contracts
whose plans declare the same shared counter namespace. The partition of such a group is
named after its smallest contract id. CDRs whose access is not found form one
partition per service id and user id (they share nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from kopek.domain.catalog import Catalog, CounterScope
from kopek.store.cdr_store import FreeGroup
from kopek.store.rating_job_store import job_contract_links
from kopek.store.uow import UnitOfWork

CONTRACT_PREFIX = "contract/"
ACCESS_PREFIX = "access/"


def partition_job(uow: UnitOfWork, job_id: str, catalog: Catalog | None, free: Sequence[FreeGroup] = ()) -> list[tuple[str, int]]:
    """Group the job's CDRs into partitions, record what each holds and record them open; the partitions and their sizes.

    The job's CDRs are the ``free`` ones its scope covers (counted by contract, or by service id and user id without
    one: nothing is written to them) and the pending ones carrying its id (taken again at its start).
    """
    contract_ids = sorted({group.contract_id for group in free if group.contract_id is not None} | set(uow.cdrs.held_contracts(job_id)))
    no_access = sorted({(group.service_id, group.user_id) for group in free if group.contract_id is None}, key=str)
    members: list[tuple[str, str | None, str | None, str | None]] = [(CONTRACT_PREFIX + c, c, None, None) for c in contract_ids]
    members.extend((f"{ACCESS_PREFIX}{service_id}/{user_id}", None, service_id, user_id) for service_id, user_id in no_access)
    uow.rating_jobs.insert_members(job_id, members)
    links = job_contract_links(uow.connection, job_id)
    groups = _Groups()
    for contract_id, kind, target in links:
        node = f"c:{contract_id}"
        if kind == "parent":
            groups.join(node, f"c:{target}")
        elif kind == "account":
            groups.join(node, f"a:{target}")
        elif kind == "plan":
            for namespace in _shared_namespaces(catalog, target):
                groups.join(node, f"n:{namespace}")
    smallest: dict[str, str] = {}
    for contract_id in contract_ids:  # Sorted: the first contract met in a group is its smallest.
        smallest.setdefault(groups.root(f"c:{contract_id}"), contract_id)
    moved = {
        contract_id: CONTRACT_PREFIX + smallest[groups.root(f"c:{contract_id}")]
        for contract_id in contract_ids
        if smallest[groups.root(f"c:{contract_id}")] != contract_id
    }
    uow.rating_jobs.move_members(job_id, moved)
    uow.cdrs.move_to_partition(job_id, moved)
    sizes = Counter(dict(uow.cdrs.partition_sizes(job_id)))
    for group in free:
        if group.contract_id is not None:
            sizes[moved.get(group.contract_id, CONTRACT_PREFIX + group.contract_id)] += group.cdrs
        else:
            sizes[f"{ACCESS_PREFIX}{group.service_id}/{group.user_id}"] += group.cdrs
    partitions = sorted(sizes.items())
    uow.rating_jobs.insert_partitions(job_id, partitions)
    return partitions


def _shared_namespaces(catalog: Catalog | None, plan_name: str) -> Iterable[str]:
    if catalog is None:
        return ()
    return {
        spec.namespace
        for plan in catalog.charge_plan_versions(plan_name)
        for spec in plan.counters
        if spec.scope is CounterScope.SHARED and spec.namespace is not None
    }


class _Groups:
    """Union-find over string nodes (contracts, accounts, namespaces)."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def root(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        while parent != node:
            grandparent = self._parent[parent]
            self._parent[node] = grandparent  # Path halving keeps the trees flat.
            node, parent = parent, grandparent
        return node

    def join(self, first: str, second: str) -> None:
        first_root, second_root = self.root(first), self.root(second)
        if first_root != second_root:
            self._parent[max(first_root, second_root)] = min(first_root, second_root)

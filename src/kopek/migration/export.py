"""Export: the contract states of all or selected contracts, read a page at a time in one snapshot transaction,
each with the pools (counters of scope ``shared``) its plans use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa

from kopek import limits
from kopek.domain.catalog import Catalog
from kopek.errors import Code, DoesNotExistError, InvalidError
from kopek.migration.state import (
    CONTRACT_NAMESPACE,
    CONTRACT_STATE_FORMAT_VERSION,
    ActivationState,
    ContractItemState,
    ContractState,
    CounterState,
    SharedCounterState,
)
from kopek.migration.validation import pools_of
from kopek.store.uow import UnitOfWork


def open_export(database: sa.Engine, selected: Sequence[str] | None = None, *, catalog: Catalog | None = None) -> Iterator[ContractState]:
    """The states of ``selected`` contracts (all when None), in contract id order.

    The selection is checked before this returns (an unknown contract raises
    DOES_NOT_EXIST); the states are then read lazily, page by page, inside one read
    transaction that sees one point in time and ends when the iterator is exhausted or closed.
    ``catalog`` tells which counters of scope ``shared`` (pools) each contract's plans use: each
    state carries their stored values (none without a catalog).
    """
    if selected is not None and len(set(selected)) > limits.CONTRACT_STATES_SELECTED_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED, message=f"an export names at most {limits.CONTRACT_STATES_SELECTED_MAX} contracts; export all instead"
        )
    stack = ExitStack()
    uow = stack.enter_context(UnitOfWork(database, writes=False, snapshot=True))
    with stack.pop_all() as cleanup:
        wanted = sorted(set(selected)) if selected is not None else None
        if wanted is not None:
            missing = sorted(set(wanted) - set(uow.contract_states.contract_ids(after="", limit=len(wanted) + 1, selected=wanted)))
            if missing:
                raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract(s) {', '.join(map(repr, missing[:10]))} do not exist")
        return _pages(uow, wanted, catalog, cleanup.pop_all())


def _pages(uow: UnitOfWork, selected: Sequence[str] | None, catalog: Catalog | None, cleanup: ExitStack) -> Iterator[ContractState]:
    with cleanup:
        after = ""
        while contract_ids := uow.contract_states.contract_ids(after=after, limit=limits.CONTRACT_STATES_BATCH_MAX, selected=selected):
            yield from states_of(uow, contract_ids, catalog=catalog)
            after = contract_ids[-1]


def states_of(uow: UnitOfWork, contract_ids: Sequence[str], *, catalog: Catalog | None = None) -> list[ContractState]:
    """The stored states of ``contract_ids`` (which exist), in id order; with ``catalog``, each with the pools its plans use."""
    counters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in uow.contract_states.counter_rows(contract_ids):
        counters[row["contract_id"]].append(row)
    activations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in uow.contract_states.activation_rows(contract_ids):
        activations[row["contract_id"]].append(row)
    activation_counters: dict[tuple[str, str], list[CounterState]] = defaultdict(list)
    for row in uow.contract_states.activation_counter_rows(contract_ids):
        activation_counters[row["contract_id"], row["activation_id"]].append(_counter(row))
    pools = _pools(uow, contract_ids, catalog) if catalog is not None else {}
    return [
        _state(snapshot, counters[snapshot["id"]], activations[snapshot["id"]], activation_counters, pools.get(snapshot["id"], []))
        for snapshot in uow.contract_states.snapshot_rows(contract_ids)
    ]


def _pools(uow: UnitOfWork, contract_ids: Sequence[str], catalog: Catalog) -> dict[str, list[SharedCounterState]]:
    """The stored pools (counters of scope ``shared``) each contract's plans use, by contract; a pool no charge moved yet
    is not stored, and so not exported: it holds its initial value."""
    used = {
        contract_id: pools_of(catalog, plans.values())
        for contract_id, (_, plans) in uow.contract_states.contract_facts(contract_ids, lock=False).items()
    }
    wanted = sorted(set().union(*used.values())) if used else []
    stored = {(row["namespace"], row["name"]): row for row in uow.contract_states.shared_counter_rows(wanted)}
    return {contract_id: [_pool(stored[key]) for key in sorted(keys) if key in stored] for contract_id, keys in used.items()}


def _pool(row: dict[str, Any]) -> SharedCounterState:
    return SharedCounterState(
        namespace=row["namespace"], name=row["name"], unit=row["unit"], value=row["value"],
        period_start=row["period_start"], expires_at=row["expires_at"],
    )  # fmt: skip


def _counter(row: dict[str, Any]) -> CounterState:
    return CounterState(
        name=row["name"], unit=row["unit"], value=row["value"], period_start=row["period_start"], expires_at=row["expires_at"]
    )


def _state(
    snapshot: dict[str, Any],
    counter_rows: list[dict[str, Any]],
    activation_rows: list[dict[str, Any]],
    activation_counters: dict[tuple[str, str], list[CounterState]],
    pools: list[SharedCounterState],
) -> ContractState:
    items: dict[str, list[CounterState]] = defaultdict(list)
    shared: list[SharedCounterState] = []
    for row in counter_rows:
        if row["item_id"] == "":
            counter = _counter(row)
            shared.append(SharedCounterState(namespace=CONTRACT_NAMESPACE, **counter.model_dump()))
        else:
            items[row["item_id"]].append(_counter(row))
    return ContractState(
        format_version=CONTRACT_STATE_FORMAT_VERSION,
        contract_id=snapshot["id"],
        last_snapshot_date=snapshot["last_snapshot_date"],
        snapshot_days=snapshot["snapshot_days"],
        shared_counters=(*shared, *pools),
        items=tuple(ContractItemState(item_id=item_id, counters=tuple(values)) for item_id, values in items.items()),
        activations=tuple(
            ActivationState(
                id=row["id"],
                item_id=row["item_id"],
                kind=row["kind"],
                status=row["status"],
                last_activation_date=row["last_activation_date"],
                counters=tuple(activation_counters[row["contract_id"], row["id"]]),
            )
            for row in activation_rows
        ),
    )

"""Bulk restore of contract states from JSON lines, in one of two processing modes.

``ALL_OR_NOTHING`` runs the whole file in one transaction and commits it only
when every state is valid. ``BEST_EFFORT`` commits each valid contract and reports
the others: whether a state is restored never depends on the other lines of its
batch. Either way the input is read line by line (see :mod:`kopek.migration.reading`)
and validated and written ``CONTRACT_STATES_BATCH_MAX``
states at a time, so memory stays bounded whatever the size of the file; only the ids
of the contracts seen so far are kept, to refuse a contract the file repeats.

Restore replaces a contract's stored counter values, activations and snapshot
fields with the state's, and the stored value of each pool (counter of scope ``shared``)
a state carries; a pool it does not carry is left as it is (other contracts share it).
It is neither a counter reset nor a refill: it writes no account operation and no
charged item.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from kopek import limits
from kopek.clock import Clock
from kopek.errors import Category, Code, ErrorDetail, IllegalSystemStateError, InvalidError, KopekError, Reason
from kopek.migration.reading import Parsed, batches, parse_line
from kopek.migration.state import CONTRACT_NAMESPACE, ContractState, CounterState, SharedCounterState
from kopek.migration.validation import ContractFacts, DeclaredCounters, check_contract_state
from kopek.store.catalog_cache import CatalogCache
from kopek.store.contract_state_store import ContractStateRows, CounterRow
from kopek.store.uow import UnitOfWork

__all__ = ["RestoreContext", "RestoreFailure", "RestoreMode", "RestoreReport", "parse_line", "restore"]


class RestoreMode(StrEnum):
    ALL_OR_NOTHING = "ALL_OR_NOTHING"
    BEST_EFFORT = "BEST_EFFORT"


class RestoreFailure(BaseModel):
    """Why the state on ``line`` (1-based) was not restored; ``contract_id`` is None when the line is unreadable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "alice-contract",
                    "line": 1,
                    "category": "ILLEGAL_STATE",
                    "reason": None,
                    "code": "contract_not_migrating",
                    "message": "contract 'alice-contract' is active, not migrating; begin the migration lock first",
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    contract_id: str | None
    """The contract of the refused state; null when the line is unreadable."""
    line: int
    """The 1-based line (or position) of the input it concerns."""
    category: Category
    """The error category (see docs/errors.md)."""
    reason: Reason | None
    """The business reason of a refusal; null when none."""
    code: Code
    """The stable error code (see docs/errors.md)."""
    message: str
    """For people; may change between versions."""


class RestoreReport(BaseModel):
    """The outcome of one restore: what was read, restored and refused (failures listed up to a bound)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "BEST_EFFORT",
                    "committed": True,
                    "states_read": 2,
                    "states_restored": 0,
                    "states_failed": 2,
                    "failures": [
                        {
                            "contract_id": "alice-contract",
                            "line": 1,
                            "category": "ILLEGAL_STATE",
                            "reason": None,
                            "code": "contract_not_migrating",
                            "message": "contract 'alice-contract' is active, not migrating; begin the migration lock first",
                        },
                        {
                            "contract_id": "nobody",
                            "line": 2,
                            "category": "DOES_NOT_EXIST",
                            "reason": None,
                            "code": "not_found",
                            "message": "contract 'nobody' does not exist",
                        },
                    ],
                    "failures_truncated": False,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    mode: RestoreMode
    """ALL_OR_NOTHING or BEST_EFFORT."""
    committed: bool
    """Whether anything was committed (ALL_OR_NOTHING: only when every state was valid)."""
    states_read: int
    """States read."""
    states_restored: int
    """States restored."""
    states_failed: int
    """States refused."""
    failures: list[RestoreFailure]
    """The refused states with their errors, by line (up to a bound)."""
    failures_truncated: bool
    """True when more failures happened than are listed."""


@dataclass(frozen=True, slots=True)
class RestoreContext:
    database: sa.Engine
    catalogs: CatalogCache
    clock: Clock


@dataclass
class _Tally:
    read: int = 0
    restored: int = 0
    failed: int = 0
    failures: list[RestoreFailure] = field(default_factory=list)

    def fail(self, line: int, contract_id: str | None, error: KopekError) -> None:
        self.failed += 1
        if len(self.failures) < limits.RESTORE_FAILURES_REPORTED_MAX:
            self.failures.append(
                RestoreFailure(
                    contract_id=contract_id, line=line, category=error.category, reason=error.reason, code=error.code, message=error.message
                )
            )


_Valid = tuple[int, ContractState]
"""A line number and its state, which passed every check."""


@dataclass
class _Run:
    """What one restore carries from batch to batch.

    ``seen`` holds the id of every contract read so far, so a contract repeated anywhere in
    the file is found: about 100 bytes per contract (a million contracts: some 100 MiB).
    """

    now: datetime
    tally: _Tally = field(default_factory=_Tally)
    seen: set[str] = field(default_factory=set)
    pools: dict[tuple[str, str], SharedCounterState] = field(default_factory=dict)
    """The value of each pool (counter of scope ``shared``) the valid states carried so far: every state of the file that
    carries a pool must carry the same value, as the states exported at one point in time do."""


def restore(lines: Iterable[str], mode: RestoreMode, context: RestoreContext, *, actor: str) -> RestoreReport:
    """Restore the states in ``lines`` (JSON, one per line; blank lines skipped); see the module docstring.

    The audit log records who restored, when, in which mode and the counts, committed
    or not (an ALL_OR_NOTHING batch that was refused is audited too). Input without any
    state (empty, or blank lines only) is refused as ``contract_state_invalid``: it is
    surely not what was meant, and restoring nothing must not look like a success.
    """
    lines = _holding_a_state(lines)
    run = _Run(now=context.clock())
    if mode is RestoreMode.ALL_OR_NOTHING:
        with UnitOfWork(context.database) as uow:
            declared = DeclaredCounters(context.catalogs.current(uow).catalog)
            for batch in batches(lines):
                # After the first failure the rest is only checked: nothing will be committed.
                valid = _checked(uow, declared, batch, run, lock=run.tally.failed == 0)
                if run.tally.failed == 0:
                    _write(uow, valid, at=run.now)
                    run.tally.restored += len(valid)
            if run.tally.failed == 0:
                uow.commit()
            else:
                run.tally.restored = 0
    else:
        with UnitOfWork(context.database, writes=False) as uow:
            declared = DeclaredCounters(context.catalogs.current(uow).catalog)
        for batch in batches(lines):
            with UnitOfWork(context.database) as uow:
                _write_each_valid_contract(uow, _checked(uow, declared, batch, run, lock=True), run.tally, at=run.now)
                uow.commit()
    report = _report(mode, run.tally)
    with UnitOfWork(context.database) as uow:
        details = report.model_dump(mode="json", exclude={"failures"})
        uow.catalogs.audit(at=run.now, actor=actor, action="contract_states.restore", target="contract_states", details=details)
        uow.commit()
    return report


def _holding_a_state(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` again, once a line that is not blank was found among them."""
    remaining = iter(lines)
    blank: list[str] = []
    for line in remaining:
        if line.strip():
            return itertools.chain(blank, [line], remaining)
        blank.append(line)
    raise InvalidError(
        code=Code.CONTRACT_STATE_INVALID,
        message="the restore holds no contract state: send one JSON contract state per line",
        details=(ErrorDetail("no contract state", ("body",), Code.CONTRACT_STATE_INVALID),),
    )


def _report(mode: RestoreMode, tally: _Tally) -> RestoreReport:
    return RestoreReport(
        mode=mode,
        committed=tally.failed == 0 if mode is RestoreMode.ALL_OR_NOTHING else True,
        states_read=tally.read,
        states_restored=tally.restored,
        states_failed=tally.failed,
        # Within a batch, unreadable lines are found before the others are checked: list by line.
        failures=sorted(tally.failures, key=lambda failure: failure.line),
        failures_truncated=tally.failed > len(tally.failures),
    )


def _checked(uow: UnitOfWork, declared: DeclaredCounters, batch: list[Parsed], run: _Run, *, lock: bool) -> list[_Valid]:
    """The states of ``batch`` that pass every check, in line order; the others are tallied as failures.

    A contract already seen earlier in the file (in this batch or any before) is refused
    before anything else, so which occurrence wins never depends on where batches split.
    """
    run.tally.read += len(batch)
    fresh: list[tuple[int, ContractState]] = []
    for number, state, contract_id, fault in batch:
        if state is None:
            assert fault is not None
            run.tally.fail(number, contract_id, fault)
        elif state.contract_id in run.seen:
            message = f"contract {state.contract_id!r} appears on an earlier line of the file; a state is restored once"
            run.tally.fail(number, state.contract_id, InvalidError(code=Code.CONTRACT_STATE_REPEATED, message=message))
        else:
            run.seen.add(state.contract_id)
            fresh.append((number, state))
    facts = uow.contract_states.contract_facts([state.contract_id for _, state in fresh], lock=lock)
    valid: list[_Valid] = []
    for number, state in fresh:
        found = facts.get(state.contract_id)
        error = check_contract_state(state, ContractFacts(*found) if found else None, declared, now=run.now)
        error = error or _pool_disagreement(state, run.pools)
        if error is None:
            valid.append((number, state))
            run.pools.update({(pool.namespace, pool.name): pool for pool in state.shared_counters if pool.namespace != CONTRACT_NAMESPACE})
        else:
            run.tally.fail(number, state.contract_id, error)
    return valid


def _pool_disagreement(state: ContractState, pools: dict[tuple[str, str], SharedCounterState]) -> KopekError | None:
    """A pool this state carries with another value than an earlier state of the file did; None when all agree."""
    for pool in state.shared_counters:
        earlier = pools.get((pool.namespace, pool.name))
        if earlier is not None and earlier != pool:
            return InvalidError(
                code=Code.SHARED_COUNTER_DIFFERS,
                message=f"contract {state.contract_id!r}: shared counter {pool.namespace}/{pool.name} holds {pool.value}, "
                f"an earlier state of the file {earlier.value} (with their periods and expiries): a pool has one value",
            )
    return None


def _write_each_valid_contract(uow: UnitOfWork, valid: list[_Valid], tally: _Tally, *, at: datetime) -> None:
    """BEST_EFFORT: write the batch's valid states together; should the database refuse the batch,
    write them one by one, so that only the contract the database refuses is lost."""
    try:
        with uow.connection.begin_nested():
            _write(uow, valid, at=at)
        tally.restored += len(valid)
        return
    except sa.exc.DBAPIError:
        pass
    for number, state in valid:
        try:
            with uow.connection.begin_nested():
                _write(uow, [(number, state)], at=at)
            tally.restored += 1
        except sa.exc.DBAPIError as error:
            message = f"contract {state.contract_id!r}: the database refused its state ({type(error.orig).__name__})"
            tally.fail(number, state.contract_id, IllegalSystemStateError(code=Code.UNEXPECTED_FAULT, message=message))


def _write(uow: UnitOfWork, states: list[_Valid], *, at: datetime) -> None:
    rows = ContractStateRows()
    for _, state in states:
        contract_id = state.contract_id
        rows.snapshots.append((contract_id, state.last_snapshot_date, state.snapshot_days))
        contract_scope = [counter for counter in state.shared_counters if counter.namespace == CONTRACT_NAMESPACE]
        rows.counters += [_counter_row(contract_id, "", counter) for counter in contract_scope]
        rows.pools += [
            (pool.namespace, pool.name, pool.unit.value, pool.value, pool.period_start, pool.expires_at)
            for pool in state.shared_counters
            if pool.namespace != CONTRACT_NAMESPACE
        ]
        rows.counters += [_counter_row(contract_id, item.item_id, counter) for item in state.items for counter in item.counters]
        for activation in state.activations:
            kind, status = activation.kind.value, activation.status.value
            rows.activations.append((contract_id, activation.id, activation.item_id, kind, status, activation.last_activation_date))
            rows.activation_counters += [_counter_row(contract_id, activation.id, counter) for counter in activation.counters]
    uow.contract_states.replace(rows)
    # A restored state is a new beginning: no restoration point reaches back past it (docs/recharging.md).
    uow.counter_journal.mark([state.contract_id for _, state in states], at=at)


def _counter_row(contract_id: str, owner: str, counter: CounterState | SharedCounterState) -> CounterRow:
    return (contract_id, owner, counter.name, counter.unit.value, counter.value, counter.period_start, counter.expires_at)

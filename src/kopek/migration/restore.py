"""Bulk restore of contract states from JSON lines, in one of two processing modes.

``ALL_OR_NOTHING`` runs the whole batch in one transaction and commits it only
when every state is valid. ``BEST_EFFORT`` commits the valid states a batch of
lines at a time and reports the others. Either way the input is read line by line
and written ``CONTRACT_STATES_BATCH_MAX`` states at a time, so memory stays bounded
whatever the size of the file.

Restore replaces a contract's stored counter values, activations and snapshot
fields with the state's. It is neither a counter reset nor a refill: it writes no
account operation and no charged item.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from kopek import limits
from kopek.admin.catalog import CatalogCache
from kopek.clock import Clock
from kopek.domain.catalog import Catalog
from kopek.domain.validation import invalid_input
from kopek.errors import Category, Code, ErrorDetail, InvalidError, KopekError, Reason
from kopek.migration.state import ContractState
from kopek.migration.validation import ContractFacts, DeclaredCounters, check_contract_state
from kopek.store.uow import UnitOfWork


class RestoreMode(StrEnum):
    ALL_OR_NOTHING = "ALL_OR_NOTHING"
    BEST_EFFORT = "BEST_EFFORT"


class RestoreFailure(BaseModel):
    """Why the state on ``line`` (1-based) was not restored; ``contract_id`` is None when the line is unreadable."""

    model_config = ConfigDict(frozen=True)

    contract_id: str | None
    line: int
    category: Category
    reason: Reason | None
    code: Code
    message: str


class RestoreReport(BaseModel):
    """The outcome of one restore: what was read, restored and refused (failures listed up to a bound)."""

    model_config = ConfigDict(frozen=True)

    mode: RestoreMode
    committed: bool
    states_read: int
    states_restored: int
    states_failed: int
    failures: list[RestoreFailure]
    failures_truncated: bool


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


_Parsed = tuple[int, ContractState | None, str | None, KopekError | None]
"""A line number, its state when valid, else the contract id found (if any) and the fault."""


def restore(lines: Iterable[str], mode: RestoreMode, context: RestoreContext, *, actor: str) -> RestoreReport:
    """Restore the states in ``lines`` (JSON, one per line; blank lines skipped); see the module docstring.

    The audit log records who restored, when, in which mode and the counts, committed
    or not (an ALL_OR_NOTHING batch that was refused is audited too).
    """
    now = context.clock()
    tally = _Tally()
    if mode is RestoreMode.ALL_OR_NOTHING:
        with UnitOfWork(context.database) as uow:
            catalog = context.catalogs.current(uow).catalog
            for batch in _batches(lines):
                _restore_batch(uow, catalog, batch, tally, now=now, write=tally.failed == 0)
            if tally.failed == 0:
                uow.commit()
            else:
                tally.restored = 0
    else:
        for batch in _batches(lines):
            with UnitOfWork(context.database) as uow:
                _restore_batch(uow, context.catalogs.current(uow).catalog, batch, tally, now=now, write=True)
                uow.commit()
    report = _report(mode, tally)
    with UnitOfWork(context.database) as uow:
        details = report.model_dump(mode="json", exclude={"failures"})
        uow.catalogs.audit(at=now, actor=actor, action="contract_states.restore", target="contract_states", details=details)
        uow.commit()
    return report


def _report(mode: RestoreMode, tally: _Tally) -> RestoreReport:
    return RestoreReport(
        mode=mode,
        committed=tally.failed == 0 if mode is RestoreMode.ALL_OR_NOTHING else True,
        states_read=tally.read,
        states_restored=tally.restored,
        states_failed=tally.failed,
        failures=tally.failures,
        failures_truncated=tally.failed > len(tally.failures),
    )


def _batches(lines: Iterable[str]) -> Iterator[list[_Parsed]]:
    batch: list[_Parsed] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        batch.append(parse_line(number, line))
        if len(batch) == limits.CONTRACT_STATES_BATCH_MAX:
            yield batch
            batch = []
    if batch:
        yield batch


def parse_line(number: int, line: str) -> _Parsed:
    """One line of a contract states file as a state, or the fault that refuses it."""
    if len(line) > limits.CONTRACT_STATE_LINE_CHARS_MAX:
        fault = InvalidError(
            code=Code.CONTRACT_STATE_INVALID, message=f"line {number} is longer than {limits.CONTRACT_STATE_LINE_CHARS_MAX} characters"
        )
        return number, None, None, fault
    try:
        return number, ContractState.model_validate_json(line), None, None
    except pydantic.ValidationError as error:
        fault = invalid_input(error, code=Code.CONTRACT_STATE_INVALID, what=f"the contract state on line {number}")
        spelled = "; ".join(_spelled(detail) for detail in fault.details[:3])
        fault = InvalidError(code=fault.code, message=f"{fault.message}: {spelled}", details=fault.details)
        return number, None, _contract_id_of(line), fault


def _spelled(detail: ErrorDetail) -> str:
    where = ".".join(map(str, detail.location))
    return f"{where}: {detail.message}" if where else detail.message


def _contract_id_of(line: str) -> str | None:
    try:
        document: Any = json.loads(line)
    except ValueError:
        return None
    found = document.get("contract_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


def _restore_batch(uow: UnitOfWork, catalog: Catalog, batch: list[_Parsed], tally: _Tally, *, now: datetime, write: bool) -> None:
    """Validate one batch against catalog and master data; write the valid states when ``write``."""
    tally.read += len(batch)
    counted = Counter(parsed.contract_id for _, parsed, _, _ in batch if parsed is not None)
    facts = uow.contract_states.contract_facts(list(counted), lock=write)
    declared = DeclaredCounters(catalog)
    valid: list[ContractState] = []
    for number, state, contract_id, fault in batch:
        if state is None:
            assert fault is not None
            tally.fail(number, contract_id, fault)
            continue
        found = facts.get(state.contract_id)
        error = check_contract_state(state, ContractFacts(*found) if found else None, declared, now=now)
        if error is None and counted[state.contract_id] > 1:
            error = InvalidError(
                code=Code.CONTRACT_STATE_REPEATED, message=f"contract {state.contract_id!r} appears more than once in the batch"
            )
        if error is not None:
            tally.fail(number, state.contract_id, error)
        else:
            valid.append(state)
    if write:
        _write(uow, valid)
        tally.restored += len(valid)


def _write(uow: UnitOfWork, states: list[ContractState]) -> None:
    snapshots = [
        {"contract_id": state.contract_id, "last_snapshot_date": state.last_snapshot_date, "snapshot_days": state.snapshot_days}
        for state in states
    ]
    counter_rows: list[dict[str, Any]] = []
    activation_rows: list[dict[str, Any]] = []
    for state in states:
        contract_id = state.contract_id
        counter_rows += [
            {"contract_id": contract_id, "item_id": "", "name": counter.name, "unit": counter.unit.value, "value": counter.value}
            for counter in state.shared_counters
        ]
        counter_rows += [
            {"contract_id": contract_id, "item_id": item.item_id, "name": counter.name, "unit": counter.unit.value, "value": counter.value}
            for item in state.items
            for counter in item.counters
        ]
        activation_rows += [
            {
                "contract_id": contract_id,
                "id": activation.id,
                "item_id": activation.item_id,
                "kind": activation.kind.value,
                "status": activation.status.value,
                "last_activation_date": activation.last_activation_date,
            }
            for activation in state.activations
        ]
    uow.contract_states.replace(snapshots, counter_rows, activation_rows)

"""Rating jobs: charge stored CDRs through the single-item path, in one of five modes.

A job is started over the pending CDRs that no other job holds (optionally within a
consumption date range and of one item class); starting claims them for the job.
Running the job charges each CDR with :func:`kopek.charging.offline.charge_in` (the
CDR id is the idempotency key, the job id the sender job id) and writes the CDR's
status in the same transaction as its charge, so a job stopped at any point resumes
by running it again: only CDRs still ``pending`` are charged.

Modes (DESIGN.md): ``DAY_*`` take the CDRs in consumption-date order, ``SUBSCRIPTION_*``
contract by contract (each contract's CDRs in consumption-date order). ``*_FIRST_FAIL``
skip a contract's later CDRs after its first failure; ``*_MOST`` try every CDR;
``SUBSCRIPTION_TRY`` charges each contract's CDRs in one transaction, all or nothing.
A CDR whose access is not found has no contract: it forms a group of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from kopek import limits
from kopek.admin.master_data import AwareDatetime
from kopek.charging.offline import ChargeCommand, ChargingContext, charge_in
from kopek.domain.item import ChargeableItem
from kopek.errors import Code, DoesNotExistError, KopekError
from kopek.store.schema import cdrs
from kopek.store.uow import UnitOfWork


class RatingMode(StrEnum):
    DAY_SUBSCRIPTION_FIRST_FAIL = "DAY_SUBSCRIPTION_FIRST_FAIL"
    DAY_MOST = "DAY_MOST"
    SUBSCRIPTION_FIRST_FAIL = "SUBSCRIPTION_FIRST_FAIL"
    SUBSCRIPTION_MOST = "SUBSCRIPTION_MOST"
    SUBSCRIPTION_TRY = "SUBSCRIPTION_TRY"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobFilters(BaseModel):
    """Which pending CDRs a job takes: consumption dates in ``[date_from, date_to)`` and one item class (``None``: any)."""

    date_from: AwareDatetime | None = None
    date_to: AwareDatetime | None = None
    item_class: str | None = Field(default=None, min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)


class ErrorCount(BaseModel):
    category: str
    reason: str | None
    code: str
    count: int


class JobStatus(BaseModel):
    id: str
    mode: RatingMode
    state: JobState
    filters: JobFilters
    total: int
    charged: int
    failed: int
    skipped: int
    pending: int
    progress: float
    """Handled CDRs over all CDRs of the job, from 0 to 1."""
    errors: list[ErrorCount]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def start_job(uow: UnitOfWork, job_id: str, mode: RatingMode, filters: JobFilters, *, actor: str, at: datetime) -> None:
    """Create job ``job_id`` (queued) and claim its CDRs; audited. The caller commits."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(cdrs.c.consumption_date >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(cdrs.c.consumption_date < filters.date_to)
    if filters.item_class is not None:
        conditions.append(cdrs.c.item_class == filters.item_class)
    values = {"id": job_id, "mode": mode.value, "state": JobState.QUEUED.value, "filters": filters.model_dump_json()}
    uow.rating_jobs.insert(values | {"actor": actor, "created_at": at, "total": 0})
    total = uow.cdrs.claim_for_job(job_id, conditions)
    uow.rating_jobs.update(job_id, {"total": total})
    details = {"mode": mode.value, "filters": filters.model_dump(mode="json"), "total": total}
    uow.catalogs.audit(at=at, actor=actor, action="rating_job.start", target=f"rating-job/{job_id}", details=details)


def job_status(uow: UnitOfWork, job_id: str) -> JobStatus:
    job = uow.rating_jobs.job(job_id)
    if job is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"rating job {job_id!r} does not exist")
    counts = uow.cdrs.job_counts(job_id)
    total = sum(counts.values())
    done = total - counts.get("pending", 0)
    return JobStatus(
        id=job_id,
        mode=RatingMode(job["mode"]),
        state=JobState(job["state"]),
        filters=JobFilters.model_validate_json(job["filters"]),
        total=total,
        charged=counts.get("charged", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0),
        pending=counts.get("pending", 0),
        progress=done / total if total else 1.0,
        errors=[ErrorCount(category=c, reason=r, code=k, count=n) for c, r, k, n in uow.cdrs.job_errors(job_id)],
        created_at=job["created_at"],
        started_at=job["started_at"],
        finished_at=job["finished_at"],
    )


Progress = Callable[[int], None]


def run_job(job_id: str, context: ChargingContext, *, progress: Progress | None = None) -> None:
    """Charge the job's pending CDRs in its mode; resumable (see the module docstring)."""
    with UnitOfWork(context.engine) as uow:
        job = uow.rating_jobs.job(job_id, lock=True)
        if job is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"rating job {job_id!r} does not exist")
        mode = RatingMode(job["mode"])
        uow.rating_jobs.update(job_id, {"state": JobState.RUNNING.value, "started_at": job["started_at"] or context.clock()})
        pending = uow.cdrs.pending_of_job(job_id)
        keyed = [(_contract_key(uow, row), row) for row in pending]
        uow.commit()
    failed_contracts = _failed_contracts(context, job_id)
    if mode in {RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST, RatingMode.SUBSCRIPTION_TRY}:
        keyed.sort(key=lambda pair: pair[0])  # Stable: each contract keeps consumption-date order.
    if mode is RatingMode.SUBSCRIPTION_TRY:
        for _, group in groupby(keyed, key=lambda pair: pair[0]):
            _try_contract(job_id, [row for _, row in group], context, progress)
    else:
        first_fail = mode in {RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_FIRST_FAIL}
        for key, row in keyed:
            if first_fail and key in failed_contracts:
                _mark(context, job_id, row, "skipped")
            elif not _charge_one(job_id, row, context):
                failed_contracts.add(key)
            if progress is not None:
                progress(1)
    _finish(job_id, context)


def _contract_key(uow: UnitOfWork, row: dict[str, Any]) -> str:
    access = uow.master.find_access(row["service_id"], row["user_id"], row["consumption_date"])
    return f"contract/{access.contract_id}" if access is not None else f"access/{row['service_id']}/{row['user_id']}"


def _failed_contracts(context: ChargingContext, job_id: str) -> set[str]:
    """Contracts that already failed in this job (before a resume), so first-fail modes keep skipping them."""
    with UnitOfWork(context.engine, writes=False) as uow:
        rows = [row for row in _job_rows(uow, job_id) if row["status"] in {"failed", "skipped"}]
        return {_contract_key(uow, row) for row in rows}


def _job_rows(uow: UnitOfWork, job_id: str) -> list[dict[str, Any]]:
    return [dict(row) for row in uow.connection.execute(sa.select(cdrs).where(cdrs.c.job_id == job_id)).mappings()]


def _command(job_id: str, row: dict[str, Any]) -> ChargeCommand:
    item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], json.loads(row["properties"]))
    return ChargeCommand(item, idempotency_key=row["id"], sender_job_id=job_id)


def _charge_one(job_id: str, row: dict[str, Any], context: ChargingContext) -> bool:
    """Charge one CDR and commit its status with the charge; on refusal record it failed. True when charged."""
    try:
        with UnitOfWork(context.engine) as uow:
            result = charge_in(uow, _command(job_id, row), context)
            uow.cdrs.set_outcome(row["id"], {"status": "charged", "operation_id": result.operation_id})
            uow.commit()
            return True
    except KopekError as error:
        _mark(context, job_id, row, "failed", error)
        return False


def _try_contract(job_id: str, rows: list[dict[str, Any]], context: ChargingContext, progress: Progress | None) -> None:
    """Charge all of one contract's CDRs in one transaction, or none: the first failure fails it and skips the rest."""
    failure: tuple[dict[str, Any], KopekError] | None = None
    with UnitOfWork(context.engine) as uow:
        for row in rows:
            try:
                result = charge_in(uow, _command(job_id, row), context)
            except KopekError as error:
                failure = (row, error)
                break
            uow.cdrs.set_outcome(row["id"], {"status": "charged", "operation_id": result.operation_id})
        if failure is None:
            uow.commit()
    if failure is not None:
        with UnitOfWork(context.engine) as uow:
            for row in rows:
                refusal = failure[1] if row is failure[0] else None
                uow.cdrs.set_outcome(row["id"], _outcome("failed" if refusal else "skipped", refusal))
            uow.commit()
    if progress is not None:
        progress(len(rows))


def _outcome(status: str, error: KopekError | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status}
    if error is not None:
        values |= {
            "error_category": error.category.value,
            "error_reason": error.reason.value if error.reason else None,
            "error_code": error.code.value,
            "error_message": error.message,
        }
    return values


def _mark(context: ChargingContext, job_id: str, row: dict[str, Any], status: str, error: KopekError | None = None) -> None:
    with UnitOfWork(context.engine) as uow:
        uow.cdrs.set_outcome(row["id"], _outcome(status, error))
        uow.commit()


def _finish(job_id: str, context: ChargingContext) -> None:
    with UnitOfWork(context.engine) as uow:
        counts = uow.cdrs.job_counts(job_id)
        if counts.get("pending", 0):
            return  # Another worker's CDRs, or a stop: the job is not done.
        state = JobState.SUCCEEDED if not counts.get("failed") and not counts.get("skipped") else JobState.COMPLETED_WITH_ERRORS
        uow.rating_jobs.update(job_id, {"state": state.value, "finished_at": context.clock()})
        uow.commit()


def fail_job(job_id: str, context: ChargingContext) -> None:
    """Mark a job ``failed`` after an unexpected fault stopped it; its pending CDRs stay pending for a resume."""
    with UnitOfWork(context.engine) as uow:
        uow.rating_jobs.update(job_id, {"state": JobState.FAILED.value, "finished_at": context.clock()})
        uow.commit()

"""Mass recharging: a job that recharges many contracts, chosen by filter, each exactly once.

It is a job of the rating jobs' table (mode ``RECHARGE``) and uses their partitions and leases
(:mod:`kopek.store.rating_job_store`): one partition per contract. A worker claims a contract
with a lease, recharges it (:mod:`kopek.recharging.recharge`), and marks the partition ``done``
in the recharge's own commit; so a job killed at any point resumes by running a worker again,
and no contract is recharged twice or left out. A contract whose recharge was interrupted stays
locked until its lease runs out and a worker takes it over. A contract the recharge refuses
(live sessions, counters shared with other contracts, ...) is counted with its error; the job
then ends ``completed_with_errors``. Several workers may run one job at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.admin.catalog import stored_version
from kopek.admin.master_data import AwareDatetime
from kopek.batch.columnar_rating import PlanCache
from kopek.batch.rating_jobs import PARTITION_LEASE_SECONDS, PARTITION_POLL_SECONDS, JobState, RatingPath
from kopek.charging.offline import ChargingContext
from kopek.domain.catalog import Dec
from kopek.errors import Code, DoesNotExistError, InvalidError, KopekError
from kopek.money import rating_context
from kopek.recharging.recharge import RechargeCommand, RechargeRun, recharge
from kopek.recharging.views import PricingPath
from kopek.store.catalog_cache import CatalogVersion
from kopek.store.rating_job_store import DONE, FAILED, OPEN, RECHARGE, RUNNING
from kopek.store.uow import UnitOfWork

Progress = Callable[[int], None]
"""Told how many contracts a worker finished, as it finishes them."""
Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]
ERRORS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Pricing:
    """How a worker prices its contracts' items: the paths to try, in order, and the plans compiled for the vectorized
    path, shared by its contracts."""

    paths: tuple[PricingPath, ...]
    plans: PlanCache


class RechargeJobFilters(BaseModel):
    """Which contracts a mass recharging job takes, from when, with which catalog version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"from_date": "2026-06-01T00:00:00Z", "catalog_version": 2, "plans": ["mobile"], "contract_ids": None}]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    from_date: AwareDatetime
    """The restoration point of every contract: the contracts with items consumed from then on are recharged from then."""
    catalog_version: int | None = Field(
        default=None, ge=1, le=limits.STORED_ID_MAX, description="The catalog version to charge with; none: the newest."
    )
    plans: Annotated[list[Identifier], Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="Only contracts with an item of one of these charge plans; none: any."
    )
    contract_ids: Annotated[list[Identifier], Field(min_length=1, max_length=limits.RATING_JOB_CONTRACTS_MAX)] | None = Field(
        default=None, description="Only these contracts; none: any."
    )


class ContractError(BaseModel):
    """A contract the job did not recharge, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"contract_id": "ann-line", "code": "contract_has_live_sessions", "message": "contract 'ann-line' has live sessions"}
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    contract_id: str
    """The contract."""
    code: str
    """The stable error code (see docs/errors.md)."""
    message: str
    """For people; may change between versions."""


class RechargeJobStatus(BaseModel):
    """A mass recharging job: its state, its contracts by outcome, its progress and what it gave back or took."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "recharge-job-1",
                    "state": "succeeded",
                    "filters": {"from_date": "2026-06-01T00:00:00Z", "catalog_version": 2, "plans": ["mobile"], "contract_ids": None},
                    "catalog_version": 2,
                    "total": 2,
                    "recharged": 2,
                    "recharged_columnar": 2,
                    "recharged_row": 0,
                    "refused": 0,
                    "pending": 0,
                    "progress": 1.0,
                    "compensations": {"EUR": "1.82"},
                    "errors": [],
                    "created_at": "2026-07-02T09:00:00Z",
                    "started_at": "2026-07-02T09:00:00Z",
                    "finished_at": "2026-07-02T09:00:01Z",
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    id: str
    """The job's id."""
    state: JobState
    """queued, running, succeeded, completed_with_errors (some contracts refused), failed (a fault stopped it: run it
    again to resume) or cancelled."""
    filters: RechargeJobFilters
    """What the job was started with."""
    catalog_version: int
    """The catalog version every contract is charged with (the newest when the job started, unless chosen)."""
    total: int
    """Contracts the job took."""
    recharged: int
    """Contracts recharged (committed)."""
    recharged_columnar: int = 0
    """Of those, the contracts whose items were priced column-wise (their plans take batch rating's vectorized path)."""
    recharged_row: int = 0
    """Of those, the contracts whose items were priced one at a time (the row path)."""
    refused: int
    """Contracts whose recharge was refused (see errors)."""
    pending: int
    """Contracts not done yet."""
    progress: float = Field(ge=0, le=1, description="Contracts done (recharged or refused) over all contracts, from 0 to 1.")
    compensations: dict[str, Dec] = Field(description="By currency: the sum of the compensating account operations written.")
    errors: list[ContractError] = Field(description=f"The refused contracts, the first {ERRORS_SHOWN}.")
    created_at: datetime
    """When the job was started."""
    started_at: datetime | None
    """When a worker began it."""
    finished_at: datetime | None
    """When it ended; null while it runs."""


def start_job(uow: UnitOfWork, job_id: str, filters: RechargeJobFilters, *, catalog: CatalogVersion, actor: str, at: datetime) -> int:
    """Create job ``job_id`` (queued) over the contracts ``filters`` choose that have items consumed since its date; audited.
    The caller commits. Returns how many contracts it took."""
    chosen = uow.recharges.contracts_with_usage(
        filters.from_date, plans=filters.plans, contract_ids=filters.contract_ids, limit=limits.RECHARGE_JOB_CONTRACTS_MAX + 1
    )
    if len(chosen) > limits.RECHARGE_JOB_CONTRACTS_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED,
            message=f"a recharging job takes at most {limits.RECHARGE_JOB_CONTRACTS_MAX} contracts; narrow its filters",
        )
    stored = filters.model_copy(update={"catalog_version": catalog.version})
    values = {"id": job_id, "mode": RECHARGE, "state": JobState.QUEUED.value, "filters": stored.model_dump_json()}
    uow.rating_jobs.insert(values | {"actor": actor, "created_at": at, "total": len(chosen)})
    uow.rating_jobs.insert_partitions(job_id, [(contract_id, 1) for contract_id in chosen])
    details = {"filters": stored.model_dump(mode="json"), "total": len(chosen)}
    uow.audit.record(at=at, actor=actor, action="recharge_job.start", target=f"recharge-job/{job_id}", details=details)
    return len(chosen)


def job_status(uow: UnitOfWork, job_id: str) -> RechargeJobStatus:
    job = _job(uow, job_id)
    filters = RechargeJobFilters.model_validate_json(job["filters"])
    partitions = uow.rating_jobs.partition_counts(job_id)
    recharged, refused = 0, 0
    paths: dict[str, int] = {}
    compensations: dict[str, Decimal] = {}
    errors: list[ContractError] = []
    exact = rating_context()
    for row in uow.recharges.results_of_job(job_id):
        found = json.loads(row["result"] or "{}")
        if row["state"] == DONE:
            recharged += 1
            path = found.get("pricing_path", PricingPath.ROW.value)
            paths[path] = paths.get(path, 0) + 1
            for compensation in found.get("compensations", []):
                currency = compensation["currency"]
                compensations[currency] = exact.add(compensations.get(currency, Decimal(0)), Decimal(compensation["amount"]))
        elif row["state"] == FAILED and found.get("code") != "interrupted":
            refused += 1
            if len(errors) < ERRORS_SHOWN:
                errors.append(ContractError(contract_id=row["contract_id"], code=found.get("code", ""), message=found.get("message", "")))
    total = job["total"]
    pending = partitions.get(OPEN, 0) + partitions.get(RUNNING, 0) + partitions.get(FAILED, 0)
    assert filters.catalog_version is not None, "a job stores the catalog version it resolved"
    return RechargeJobStatus(
        id=job_id,
        state=JobState(job["state"]),
        filters=filters,
        catalog_version=filters.catalog_version,
        total=total,
        recharged=recharged,
        recharged_columnar=paths.get(PricingPath.COLUMNAR.value, 0),
        recharged_row=paths.get(PricingPath.ROW.value, 0),
        refused=refused,
        pending=pending,
        progress=(total - pending) / total if total else 1.0,
        compensations=compensations,
        errors=errors,
        created_at=job["created_at"],
        started_at=job["started_at"],
        finished_at=job["finished_at"],
    )


def _job(uow: UnitOfWork, job_id: str, *, lock: bool = False) -> dict[str, Any]:
    job = uow.rating_jobs.job(job_id, lock=lock, recharging=True)
    if job is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"recharging job {job_id!r} does not exist")
    return job


FINISHED = frozenset({JobState.SUCCEEDED, JobState.COMPLETED_WITH_ERRORS, JobState.CANCELLED})


def run_job(
    job_id: str,
    context: ChargingContext,
    *,
    actor: str,
    retention_days: int,
    progress: Progress | None = None,
    worker_id: str | None = None,
    lease_seconds: float = PARTITION_LEASE_SECONDS,
    path: RatingPath = RatingPath.ROW,
) -> None:
    """Work on the job until no contract is left open or running: claim one, recharge it, repeat (resumable); ``path``
    ``row`` (the default) prices each contract's items one at a time, ``auto`` column-wise where its plans allow it."""
    worker = worker_id or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=lease_seconds)
    catalog = _begin(job_id, context)
    if catalog is None:
        return
    with UnitOfWork(context.engine, writes=False) as uow:
        filters = RechargeJobFilters.model_validate_json(_job(uow, job_id)["filters"])
    pricing = Pricing(paths=(PricingPath.COLUMNAR, PricingPath.ROW) if path is RatingPath.AUTO else (PricingPath.ROW,), plans=PlanCache())
    while True:
        contract_id = _claim(job_id, worker, lease, context)
        if contract_id is None:
            if _finish(job_id, context):
                return
            time.sleep(min(PARTITION_POLL_SECONDS, lease_seconds))
            continue
        _recharge_one(job_id, contract_id, worker, filters, catalog, context, actor=actor, retention_days=retention_days, pricing=pricing)
        if progress is not None:
            progress(1)


def _recharge_one(
    job_id: str,
    contract_id: str,
    worker: str,
    filters: RechargeJobFilters,
    catalog: CatalogVersion,
    context: ChargingContext,
    *,
    actor: str,
    retention_days: int,
    pricing: Pricing,
) -> None:
    def done(uow: UnitOfWork) -> None:
        uow.rating_jobs.end_partition(job_id, contract_id, worker, status=DONE, at=context.clock())

    run = RechargeRun(actor, retention_days, job_id=job_id, catalog=catalog, with_commit=done, paths=pricing.paths, plans=pricing.plans)
    try:
        recharge(RechargeCommand(contract_id, filters.from_date, catalog.version), context, run)
    except KopekError:
        _end(job_id, contract_id, worker, DONE, context)  # refused: counted with its error, not tried again
    except BaseException:
        _end(job_id, contract_id, worker, FAILED, context)
        raise


def _begin(job_id: str, context: ChargingContext) -> CatalogVersion | None:
    """Mark the job running (reopening the contracts a fault stopped); its catalog, or None when it is finished."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        if JobState(job["state"]) in FINISHED:
            return None
        if JobState(job["state"]) is JobState.FAILED:
            uow.rating_jobs.set_partitions(job_id, from_statuses=[FAILED], status=OPEN)
        uow.rating_jobs.update(
            job_id, {"state": JobState.RUNNING.value, "started_at": job["started_at"] or context.clock(), "finished_at": None}
        )
        version = RechargeJobFilters.model_validate_json(job["filters"]).catalog_version
        assert version is not None, "a job stores the catalog version it resolved"
        catalog = stored_version(uow, version)
        uow.commit()
    return catalog


def _claim(job_id: str, worker: str, lease: timedelta, context: ChargingContext) -> str | None:
    with UnitOfWork(context.engine) as uow:
        job = uow.rating_jobs.job(job_id, share=True, recharging=True)
        if job is None or job["state"] != JobState.RUNNING.value:
            return None
        now = context.clock()
        key = uow.rating_jobs.claim_partition(job_id, worker, now=now, lease_until=now + lease)
        uow.commit()
    return key


def _end(job_id: str, contract_id: str, worker: str, status: str, context: ChargingContext) -> None:
    with UnitOfWork(context.engine) as uow:
        uow.rating_jobs.end_partition(job_id, contract_id, worker, status=status, at=context.clock())
        uow.commit()


def _finish(job_id: str, context: ChargingContext) -> bool:
    """End the job when no contract is open or running; False while some are (the caller waits and tries again)."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        if job["state"] != JobState.RUNNING.value:
            return True
        partitions = uow.rating_jobs.partition_counts(job_id)
        if partitions.get(OPEN, 0) or partitions.get(RUNNING, 0):
            return False
        refused = job_status(uow, job_id).refused
        state = JobState.FAILED if partitions.get(FAILED, 0) else JobState.COMPLETED_WITH_ERRORS if refused else JobState.SUCCEEDED
        uow.rating_jobs.update(job_id, {"state": state.value, "finished_at": context.clock()})
        uow.commit()
    return True


def fail_job(job_id: str, context: ChargingContext) -> None:
    """Mark a job ``failed`` after an unexpected fault stopped it; its contracts not done stay for a resume."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        if JobState(job["state"]) not in FINISHED:
            uow.rating_jobs.update(job_id, {"state": JobState.FAILED.value, "finished_at": context.clock()})
        uow.commit()

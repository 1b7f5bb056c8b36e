"""Rating jobs: charge stored CDRs as the single-item path would, in one of five modes, with one or more workers.

A job is started over the pending CDRs that no other job holds (optionally within a
consumption date range, of one item class, of some contracts); starting resolves each
one's contract and splits them into **partitions** that share no state
(:mod:`kopek.batch.partitions`), writing nothing to them: the job's scope says which
they are (:mod:`kopek.store.job_scope`), and a CDR carries the job's id once its chunk
is rated. Workers claim partitions one at a time
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL) and charge each in chunks
(:mod:`kopek.batch.partition_rating`); a CDR's status commits with its charge, so a job
stopped at any point resumes by running a worker again: only CDRs still ``pending``
are charged.

A claim is a **lease**: the partition is ``running`` for its worker until
``lease_until``, which every committed chunk pushes forward. A worker that died stops
renewing it, and once it runs out another worker takes the partition over; a worker
that finds its lease taken (it stalled past it) drops the partition at its next chunk,
whose transaction then writes nothing.

Modes (DESIGN.md): ``DAY_*`` take a partition's CDRs in consumption-date order,
``SUBSCRIPTION_*`` contract by contract (each contract's CDRs in consumption-date
order). ``*_FIRST_FAIL`` skip a contract's later CDRs after its first failure;
``*_MOST`` try every CDR; ``SUBSCRIPTION_TRY`` charges each contract's CDRs in one
transaction, all or nothing. A CDR whose access is not found has no contract: it forms
a group of its own.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kopek import limits
from kopek.admin.master_data import AwareDatetime
from kopek.batch.columnar_rating import PlanCache
from kopek.batch.partition_rating import (
    CDRS_PER_CHUNK,
    COLUMNAR_CHUNKS,
    Claim,
    PartitionReleased,
    PathTally,
    Progress,
    StopRequested,
    WorkerStopped,
    rate_partition,
    rate_partitions_together,
)
from kopek.batch.partitions import partition_job
from kopek.charging.offline import ChargingContext
from kopek.domain.catalog import Catalog
from kopek.domain.validation import Flag
from kopek.errors import Category, Code, DoesNotExistError, ErrorDetail, IllegalStateError, InvalidError
from kopek.schema_examples import example_of
from kopek.store.job_scope import filter_bounds, load_scopes
from kopek.store.rating_job_store import CANCELLED, DONE, FAILED, OPEN, RUNNING
from kopek.store.uow import UnitOfWork

PARTITION_LEASE_SECONDS = 30.0
"""How long a claimed partition stays with its worker without a committed chunk; then another worker may take it over."""
PARTITION_POLL_SECONDS = 0.2
"""How often a worker with nothing to claim looks again while other workers still run partitions."""


class RatingPath(StrEnum):
    """How a worker prices CDRs: ``auto`` tries the vectorized (columnar) path on each chunk and falls back to
    the row path where it cannot apply; ``row`` always takes the row path. Both give the same results."""

    AUTO = "auto"
    ROW = "row"


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
    INTERRUPTED = "interrupted"
    """A worker was stopped (Ctrl-C) and no other worker runs a partition: resumable with ``kopek rate --worker JOB``."""


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


ContractIds = Annotated[
    Annotated[
        list[Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]],
        Field(min_length=1, max_length=limits.RATING_JOB_CONTRACTS_MAX),
    ]
    | None,
    BeforeValidator(_one_or_many),
]


class JobFilters(BaseModel):
    """Which CDRs a job takes: consumption dates in ``[date_from, date_to)``, one item class, some contracts (``None``: any);
    the pending ones and those to rate again (``retry_failed``).

    ``contract_id`` is one contract id or a list of them: the contract a CDR's access selects at its consumption date.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date_from": "2026-06-01T00:00:00+00:00",
                    "date_to": "2026-06-02T00:00:00+00:00",
                    "item_class": "voice_call",
                    "contract_id": ["bob-contract"],
                    "retry_failed": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    date_from: AwareDatetime | None = None
    """Only CDRs consumed at or after this instant."""
    date_to: AwareDatetime | None = None
    """Only CDRs consumed before this instant."""
    item_class: str | None = Field(default=None, min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)
    """Only CDRs of this item class."""
    contract_id: ContractIds = None
    """Only CDRs of this contract, or of these contracts."""
    retry_failed: Flag = False
    """Also take the CDRs that failed for good, or were skipped, in jobs that ended (after a fix: a catalog, a contract,
    a balance). Without it a job takes, besides the pending CDRs, those that failed for a temporary reason
    (``TEMPORARY_ILLEGAL_STATE``) and the ones their failure skipped."""


class ErrorCount(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"category": "ILLEGAL_STATE", "reason": "NOT_AUTHORIZED", "code": "service_not_accessible", "count": 1}]
        },
        use_attribute_docstrings=True,
    )

    category: str
    """The error category."""
    reason: str | None
    """The business reason; null when none."""
    code: str
    """The error code."""
    count: int
    """How many CDRs failed so."""


class PathCount(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"path": "row", "reason": "cdr_without_contract", "detail": "a CDR has no contract", "count": 1}]},
        use_attribute_docstrings=True,
    )

    path: str
    """``vectorized`` or ``row``."""
    reason: str | None
    """Why the row path (docs/batch.md, "When it falls back"); null on the vectorized path."""
    detail: str | None
    """One example of that reason in words; null on the vectorized path."""
    count: int
    """How many CDRs (charged, failed or skipped) took that path for that reason."""


class JobStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "job-5e5709070149599dabd733b5e3f135ae",
                    "mode": "DAY_MOST",
                    "state": "completed_with_errors",
                    "filters": example_of(JobFilters),
                    "total": 2,
                    "charged": 1,
                    "failed": 1,
                    "temporarily_failed": 0,
                    "skipped": 0,
                    "pending": 0,
                    "released": 0,
                    "progress": 1.0,
                    "partitions": {"done": 1},
                    "errors": [{"category": "ILLEGAL_STATE", "reason": "NOT_AUTHORIZED", "code": "service_not_accessible", "count": 1}],
                    "paths": [{"path": "vectorized", "reason": None, "detail": None, "count": 2}],
                    "created_at": "2026-06-01T12:00:00Z",
                    "started_at": "2026-06-01T12:00:00Z",
                    "finished_at": "2026-06-01T12:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The job's id."""
    mode: RatingMode
    """The processing mode."""
    state: JobState
    """queued, running, succeeded, completed_with_errors, failed, cancelled or interrupted."""
    filters: JobFilters
    """Which CDRs the job takes."""
    total: int
    """The CDRs the job holds (those a cancel released excepted)."""
    charged: int
    """CDRs charged."""
    failed: int
    """CDRs failed."""
    temporarily_failed: int
    """Of the failed CDRs, those refused for a temporary reason (``TEMPORARY_ILLEGAL_STATE``, e.g. a contract being
    migrated): a later job rates them again, with the CDRs their failure skipped."""
    skipped: int
    """CDRs skipped (a first-fail mode after their contract's failure, or a failed SUBSCRIPTION_TRY contract)."""
    pending: int
    """CDRs not handled yet."""
    released: int
    """CDRs the job no longer holds: given back to the store by a cancel (pending, with no job), or taken again by a later
    job (a temporary failure and what it skipped, or any failure with ``retry_failed``)."""
    progress: float
    """Handled CDRs over all CDRs of the job, from 0 to 1."""
    partitions: dict[str, int]
    """How many partitions are ``open``, ``running``, ``done``, ``failed`` or ``cancelled``."""
    errors: list[ErrorCount]
    """Failed CDRs counted by category, reason and code."""
    paths: list[PathCount]
    """Handled CDRs counted by path (vectorized or row) and, on the row path, by reason."""
    created_at: datetime
    """When the job was started."""
    started_at: datetime | None
    """When a worker began it."""
    finished_at: datetime | None
    """When it ended; null while it runs."""


class RatingJobSummary(BaseModel):
    """A rating job as a list shows it: what its row holds, without counting its CDRs (read its status for that)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "job-5e5709070149599dabd733b5e3f135ae",
                    "mode": "DAY_MOST",
                    "state": "completed_with_errors",
                    "filters": example_of(JobFilters),
                    "total": 2,
                    "actor": "api",
                    "created_at": "2026-06-01T12:00:00Z",
                    "started_at": "2026-06-01T12:00:00Z",
                    "finished_at": "2026-06-01T12:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The job's id."""
    mode: RatingMode
    """The processing mode."""
    state: JobState
    """queued, running, succeeded, completed_with_errors, failed, cancelled or interrupted."""
    filters: JobFilters
    """Which CDRs the job takes."""
    total: int
    """The CDRs the job took when it started (a cancel gives the pending ones back: its status counts what it holds now)."""
    actor: str
    """Who started it."""
    created_at: datetime
    """When it was started."""
    started_at: datetime | None
    """When a worker began it."""
    finished_at: datetime | None
    """When it ended; null while it runs."""


def job_summary(row: dict[str, Any]) -> RatingJobSummary:
    return RatingJobSummary.model_validate(row | {"filters": JobFilters.model_validate_json(row["filters"])})


def start_job(uow: UnitOfWork, job_id: str, mode: RatingMode, filters: JobFilters, *, actor: str, at: datetime, catalog: Catalog) -> None:
    """Create job ``job_id`` (queued) with its scope, take its failed CDRs again and record its partitions; audited.
    The caller commits.

    The pending CDRs the job covers are not written: its scope (its filters, the CDRs imported so far, the jobs it
    overlaps) and what each partition holds say which they are (:mod:`kopek.store.job_scope`); a CDR carries the
    job's id once its chunk is rated. Only the failed CDRs taken again carry it from the start.

    The filters are checked first (:func:`check_filters`): a faulty request starts no job.
    ``catalog`` (the current one) tells which contracts share counters (see :mod:`kopek.batch.partitions`).
    """
    check_filters(uow, filters, catalog)
    uow.cdrs.lock_for_job_start()
    conditions = filter_bounds(filters.date_from, filters.date_to, filters.item_class)
    overlapped = uow.rating_jobs.scoped_jobs(LIVE_STATES)
    seq_max = uow.cdrs.seq_max()
    values = {
        "id": job_id,
        "mode": mode.value,
        "state": JobState.QUEUED.value,
        "filters": filters.model_dump_json(),
        "cdr_seq_max": seq_max,
        "cdr_seq_min": uow.cdrs.advance_free_floor(seq_max),
        "overlapped_jobs": json.dumps(overlapped),
    }
    uow.rating_jobs.insert(values | {"actor": actor, "created_at": at, "total": 0})
    scopes = load_scopes(uow.connection, job_id)
    assert scopes is not None
    free = uow.cdrs.free_groups(scopes, contract_ids=filters.contract_id)
    ended = uow.rating_jobs.ended_jobs(ENDED_STATES)
    retried = uow.cdrs.claim_retries_for_job(
        job_id, conditions, ended, contract_ids=filters.contract_id, temporary_only=not filters.retry_failed
    )
    total = sum(group.cdrs for group in free) + retried
    partitions = partition_job(uow, job_id, catalog, free)
    uow.rating_jobs.update(job_id, {"total": total})
    details = {
        "mode": mode.value,
        "filters": filters.model_dump(mode="json"),
        "total": total,
        "retried": retried,
        "partitions": len(partitions),
    }
    uow.catalogs.audit(at=at, actor=actor, action="rating_job.start", target=f"rating-job/{job_id}", details=details)


def check_filters(uow: UnitOfWork, filters: JobFilters, catalog: Catalog) -> None:
    """Refuse filters that could only select nothing by mistake: an empty or inverted date range, an item class the
    catalog does not have, a contract that does not exist. INVALID (``request_invalid``), one detail per fault, each
    naming its field (``["filters", "date_to"]``, ``["filters", "contract_id", 1]``)."""
    faults = []
    if filters.date_from is not None and filters.date_to is not None and filters.date_to <= filters.date_from:
        faults.append(ErrorDetail("date_to must be after date_from", ("filters", "date_to"), Code.REQUEST_INVALID.value))
    if filters.item_class is not None and catalog.item_class(filters.item_class) is None:
        message = f"the catalog has no item class {filters.item_class!r}"
        faults.append(ErrorDetail(message, ("filters", "item_class"), Code.ITEM_CLASS_UNKNOWN.value))
    if filters.contract_id is not None:
        known = uow.master.contracts(filters.contract_id)
        faults.extend(
            ErrorDetail(f"contract {contract_id!r} does not exist", ("filters", "contract_id", index), Code.NOT_FOUND.value)
            for index, contract_id in enumerate(filters.contract_id)
            if contract_id not in known
        )
    if faults:
        summary = "; ".join(f"{'.'.join(map(str, fault.location))}: {fault.message}" for fault in faults)
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"the rating job's filters are refused: {summary}", details=tuple(faults))


def job_status(uow: UnitOfWork, job_id: str) -> JobStatus:
    job = _job(uow, job_id)
    counts = uow.cdrs.job_counts(job_id)
    errors = uow.cdrs.job_errors(job_id)
    counts["pending"] = counts.get("pending", 0) + _free_pending(job, counts)
    total = sum(counts.values())
    done = total - counts["pending"]
    return JobStatus(
        id=job_id,
        mode=RatingMode(job["mode"]),
        state=JobState(job["state"]),
        filters=JobFilters.model_validate_json(job["filters"]),
        total=total,
        charged=counts.get("charged", 0),
        failed=counts.get("failed", 0),
        temporarily_failed=sum(n for category, _, _, n in errors if category == Category.TEMPORARY_ILLEGAL_STATE.value),
        skipped=counts.get("skipped", 0),
        pending=counts.get("pending", 0),
        released=job["total"] - total,
        progress=done / total if total else 1.0,
        partitions=uow.rating_jobs.partition_counts(job_id),
        errors=[ErrorCount(category=c, reason=r, code=k, count=n) for c, r, k, n in errors],
        paths=[PathCount(path=p.path, reason=p.reason, detail=p.detail, count=p.cdr_count) for p in uow.rating_paths.counts(job_id)],
        created_at=job["created_at"],
        started_at=job["started_at"],
        finished_at=job["finished_at"],
    )


def _free_pending(job: dict[str, Any], counts: dict[str, int]) -> int:
    """How many of a job's CDRs are still free (pending, not yet carrying its id): those it took at its start less
    those that carry its id, while it may still rate them (not finished); none for a job without a scope."""
    if job["cdr_seq_max"] is None or JobState(job["state"]) in FINISHED:
        return 0
    return max(0, int(job["total"]) - sum(counts.values()))


def _job(uow: UnitOfWork, job_id: str, *, lock: bool = False) -> dict[str, Any]:
    job = uow.rating_jobs.job(job_id, lock=lock)
    if job is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"rating job {job_id!r} does not exist")
    return job


def cancel_job(uow: UnitOfWork, job_id: str, *, actor: str, at: datetime) -> None:
    """Cancel a job that has not finished; audited. The caller commits.

    What was charged stays charged. Workers stop at their next chunk (a chunk in
    flight commits first: the job's row lock waits for it). The job's CDRs still
    ``pending`` go back to the store with no job, for a later job to take: those its
    scope covered are free as soon as it is cancelled (a job started later does not
    overlap it), those carrying its id are cleared.
    """
    job = _job(uow, job_id, lock=True)
    if JobState(job["state"]) in FINISHED:
        raise IllegalStateError(code=Code.RATING_JOB_FINISHED, message=f"rating job {job_id!r} is already {job['state']}")
    uow.rating_jobs.update(job_id, {"state": JobState.CANCELLED.value, "finished_at": at})
    uow.rating_jobs.set_partitions(job_id, from_statuses=[OPEN, RUNNING, FAILED], status=CANCELLED, at=at)
    uow.cdrs.release_pending(job_id)
    released = int(job["total"]) - sum(uow.cdrs.job_counts(job_id).values())
    details = {"state_before": job["state"], "released": released}
    uow.catalogs.audit(at=at, actor=actor, action="rating_job.cancel", target=f"rating-job/{job_id}", details=details)


FINISHED = frozenset({JobState.SUCCEEDED, JobState.COMPLETED_WITH_ERRORS, JobState.CANCELLED})
ENDED_STATES = tuple(sorted(state.value for state in FINISHED))
"""The jobs whose failed and skipped CDRs a later job may take (a ``failed`` job is left to its resume)."""
LIVE_STATES = tuple(sorted(state.value for state in JobState if state not in FINISHED))
"""The jobs a starting job overlaps: it leaves the CDRs their scopes cover to them."""


def run_job(
    job_id: str,
    context: ChargingContext,
    *,
    progress: Progress | None = None,
    worker_id: str | None = None,
    lease_seconds: float = PARTITION_LEASE_SECONDS,
    chunk_cdrs: int = CDRS_PER_CHUNK,
    path: RatingPath = RatingPath.AUTO,
    tally: PathTally | None = None,
    stop: StopRequested | None = None,
) -> None:
    """Work on the job until no partition is left open or running: claim one, charge it, mark it done, repeat.

    Several workers (threads or processes) may run one job at once. A worker that finds
    no partition to claim while others still run waits for them, and takes over a
    partition whose lease ran out (its worker died). ``chunk_cdrs`` CDRs commit together.
    Resumable (see the module docstring). ``stop`` is asked between chunks: once it says
    True the worker gives its partitions back and returns (:func:`_stop_worker`).
    """
    if chunk_cdrs < 1:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"a chunk holds at least one CDR, not {chunk_cdrs}")
    worker = worker_id or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=lease_seconds)
    if not _begin(job_id, context):
        return
    plans = PlanCache() if path is RatingPath.AUTO else None
    while True:
        if stop is not None and stop():
            _stop_worker(job_id, worker, context)
            return
        claims = _claim(job_id, worker, lease, context, chunk_cdrs, plans, tally, stop)
        if not claims:
            if _finish(job_id, context):
                return
            time.sleep(min(PARTITION_POLL_SECONDS, lease_seconds))
            continue
        try:
            if len(claims) > 1 and rate_partitions_together(claims, context, progress):
                continue
        except PartitionReleased:
            continue
        except Exception:
            for claim in claims:
                _end_partition(claim, context, PartitionStatus.FAILED)
            raise
        try:
            for claim in claims:
                _work_on(claim, context, progress)
        except WorkerStopped:
            _stop_worker(job_id, worker, context)
            return


def run_workers(
    job_id: str,
    context: ChargingContext,
    *,
    workers: int,
    worker_id: str | None = None,
    stop: StopRequested | None = None,
    **options: Any,
) -> None:
    """Run ``workers`` workers of the job in this process (:func:`run_job` with ``options``), each in a thread of its
    own, and return once all have returned.

    On PostgreSQL a worker waits for the database for about half of each chunk (its ``COPY`` and updates), and another
    worker prices its own chunk meanwhile: two workers keep two cores busy. On SQLite, which has one writer, they take
    turns. ``worker_id`` names them ``ID/1``, ``ID/2``, ... The first failure of a worker asks the others to stop
    between chunks, as ``stop`` does, and is raised once they have returned. A ``KeyboardInterrupt`` in the calling
    thread (a second Ctrl-C) is raised at once and asks the threads to stop between chunks; they are daemons, so a
    process that ends then ends their chunks in flight, never committed: their partitions' leases run out and a
    resume takes them over.
    """
    if workers < 1:
        message = f"a job runs with at least one worker, not {workers}"
        detail = ErrorDetail(message, ("workers",), Code.REQUEST_INVALID.value)
        raise InvalidError(code=Code.REQUEST_INVALID, message=message, details=(detail,))
    if workers == 1:
        run_job(job_id, context, worker_id=worker_id, stop=stop, **options)
        return
    failures: list[BaseException] = []
    halt = threading.Event()

    def stopping() -> bool:
        return halt.is_set() or (stop is not None and stop())

    def work(number: int) -> None:
        try:
            run_job(job_id, context, worker_id=None if worker_id is None else f"{worker_id}/{number}", stop=stopping, **options)
        except BaseException as error:
            failures.append(error)
            halt.set()

    threads = [
        threading.Thread(target=work, args=(number,), name=f"rating-{job_id}-{number}", daemon=True) for number in range(1, workers + 1)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        halt.set()  # An interrupt of the caller: the threads stop after their chunk in flight, if the process lives on.
        raise
    if failures:
        raise failures[0]


def _work_on(claim: Claim, context: ChargingContext, progress: Progress | None) -> None:
    """Charge one claimed partition and mark it done (or failed, on an unexpected fault).

    An interrupt (``KeyboardInterrupt``: a second Ctrl-C) writes nothing more: the partition's lease runs out and a
    resume takes it over. A stop asked for (:class:`WorkerStopped`) is the caller's to handle."""
    try:
        rate_partition(claim, context, progress)
    except PartitionReleased:
        return
    except WorkerStopped:
        raise
    except Exception:
        _end_partition(claim, context, PartitionStatus.FAILED)
        raise
    _end_partition(claim, context, PartitionStatus.DONE)


def _stop_worker(job_id: str, worker: str, context: ChargingContext) -> None:
    """Give back the partitions the worker holds, open again for any worker at once (their committed chunks stay);
    when no worker runs a partition any more, the job is ``interrupted`` (resumable)."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        uow.rating_jobs.release_partitions(job_id, worker)
        if job["state"] == JobState.RUNNING.value and not uow.rating_jobs.partition_counts(job_id).get(RUNNING, 0):
            uow.rating_jobs.update(job_id, {"state": JobState.INTERRUPTED.value})
        uow.commit()


def _begin(job_id: str, context: ChargingContext) -> bool:
    """Mark the job running (reopening the partitions a fault stopped); False when it is finished or cancelled."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        state = JobState(job["state"])
        if state in FINISHED:
            return False
        if state is JobState.FAILED:
            uow.rating_jobs.set_partitions(job_id, from_statuses=[FAILED], status=OPEN)
        if not uow.rating_jobs.partition_counts(job_id) and uow.cdrs.assign_unpartitioned(job_id):
            # A job started before jobs had partitions: partition its pending CDRs now.
            catalog = context.catalogs.current(uow).catalog if uow.catalogs.latest_version() is not None else None
            partition_job(uow, job_id, catalog)
        values = {"state": JobState.RUNNING.value, "started_at": job["started_at"] or context.clock(), "finished_at": None}
        uow.rating_jobs.update(job_id, values)
        uow.commit()
    return True


def _claim(
    job_id: str,
    worker: str,
    lease: timedelta,
    context: ChargingContext,
    chunk_cdrs: int,
    plans: PlanCache | None,
    tally: PathTally | None,
    stop: StopRequested | None,
) -> list[Claim]:
    """Claim the next partition, or several small ones that fit one chunk together (on the vectorized path one
    vectorized chunk of ``COLUMNAR_CHUNKS`` chunks, on the row path one chunk)."""
    with UnitOfWork(context.engine) as uow:
        job = uow.rating_jobs.job(job_id, share=True)
        if job is None or job["state"] != JobState.RUNNING.value:
            return []
        mode = RatingMode(job["mode"])
        now = context.clock()
        keys: list[str] = []
        if mode is not RatingMode.SUBSCRIPTION_TRY:
            budget = chunk_cdrs * COLUMNAR_CHUNKS if plans is not None else chunk_cdrs
            keys = uow.rating_jobs.claim_small_partitions(
                job_id, worker, now=now, lease_until=now + lease, cdrs=budget, limit=PARTITIONS_PER_CLAIM_MAX
            )
        if not keys:
            key = uow.rating_jobs.claim_partition(job_id, worker, now=now, lease_until=now + lease)
            keys = [key] if key is not None else []
        uow.commit()
    return [
        Claim(
            job_id,
            key,
            worker,
            contract_first=mode in CONTRACT_FIRST,
            first_fail=mode in FIRST_FAIL,
            all_or_nothing=mode is RatingMode.SUBSCRIPTION_TRY,
            lease=lease,
            chunk_cdrs=chunk_cdrs,
            plans=plans,
            tally=tally,
            stop=stop,
        )
        for key in keys
    ]


PARTITIONS_PER_CLAIM_MAX = 500
"""At most this many small partitions are claimed (and charged) together on the vectorized path."""


CONTRACT_FIRST = frozenset({RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST, RatingMode.SUBSCRIPTION_TRY})
FIRST_FAIL = frozenset({RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_FIRST_FAIL})


class PartitionStatus(StrEnum):
    DONE = DONE
    FAILED = FAILED


def _end_partition(claim: Claim, context: ChargingContext, status: PartitionStatus) -> None:
    with UnitOfWork(context.engine) as uow:
        uow.rating_jobs.end_partition(claim.job_id, claim.partition_key, claim.worker_id, status=status.value, at=context.clock())
        uow.commit()


def _finish(job_id: str, context: ChargingContext) -> bool:
    """End the job when no partition is open or running; False while some are (the caller waits and tries again)."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        if job["state"] != JobState.RUNNING.value:
            return True  # Cancelled, failed by another worker's fault, or already finished by another worker.
        partitions = uow.rating_jobs.partition_counts(job_id)
        if partitions.get(OPEN, 0) or partitions.get(RUNNING, 0):
            return False
        counts = uow.cdrs.job_counts(job_id)
        if partitions.get(FAILED, 0):
            state = JobState.FAILED
        elif counts.get("failed") or counts.get("skipped"):
            state = JobState.COMPLETED_WITH_ERRORS
        else:
            state = JobState.SUCCEEDED
        uow.rating_jobs.update(job_id, {"state": state.value, "finished_at": context.clock()})
        uow.commit()
    # Past what the job rated, so that a look-up of pending CDRs (the listing, the next start) starts after them.
    with UnitOfWork(context.engine) as uow:
        uow.cdrs.lock_for_job_start()
        uow.cdrs.advance_free_floor(uow.cdrs.seq_max())
        uow.commit()
    return True


def fail_job(job_id: str, context: ChargingContext) -> None:
    """Mark a job ``failed`` after an unexpected fault stopped it; its pending CDRs stay pending for a resume."""
    with UnitOfWork(context.engine) as uow:
        job = _job(uow, job_id, lock=True)
        if JobState(job["state"]) not in FINISHED:
            uow.rating_jobs.update(job_id, {"state": JobState.FAILED.value, "finished_at": context.clock()})
        uow.commit()

"""Charging one claimed partition of a rating job, a chunk of CDRs per transaction.

Every chunk makes the same journey, written once (:func:`_journey`), in one transaction:

1. **claim**: the job still runs and the worker still holds its partition, whose lease is
   pushed forward (the job store, ``uow.rating_jobs``);
2. **read** the partition's next pending CDRs in charging order, the free ones taken for
   the job (the CDR store, ``uow.cdrs``);
3. **type, price, post** each CDR and **write** the charges (operations, charged items,
   account operations, balances, counters, notifications) and the CDRs' outcomes;
4. **tally** the chunk's CDRs by path (``uow.rating_paths``);
5. **commit**; then the caller's progress and path tally are told.

What differs between the paths and modes plugs into steps 2 and 3 as a
:class:`ChunkWay`:

- the **row path** (:class:`_RowChunk`) loads the state of the chunk's contracts once
  (contracts, counters and payer accounts locked, live reservations), charges each CDR
  with the very functions of the single-item path (:class:`ChunkRater`, after
  :func:`~kopek.charging.offline.charge_in`: typing, idempotency replay, contract checks,
  ``rate_item``, ``post_charges``), keeps the state it leaves in memory for the next CDR,
  and writes the whole chunk with one multi-row statement per table;
- the **vectorized path** (a claim with compiled ``plans``; :class:`_VectorizedChunk`)
  charges ``COLUMNAR_CHUNKS`` chunks' worth of a partition at once with
  :mod:`kopek.batch.columnar_rating`; the first chunk that does not qualify is left
  unwritten and the rest of the partition takes the row path. Several small partitions
  may be charged as one vectorized chunk (:func:`rate_partitions_together`,
  :class:`_PartitionsTogether`), which marks them done in its transaction; when it does
  not qualify, they are charged one by one;
- ``SUBSCRIPTION_TRY`` (:class:`_WholeContract`) charges each contract in one
  transaction (its CDRs read and charged a chunk at a time inside it): the first refusal
  rolls the contract back, and a second transaction (:class:`_Refusal`) marks the
  refused CDR failed and the contract's other CDRs skipped.

A crash loses at most the uncommitted chunk, which a resume rates again from the
committed state.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import polars as pl

from kopek.batch.cdr_outcomes import refusal
from kopek.batch.columnar_rating import ChunkRules, FallbackReason, NotColumnar, PlanCache, rate_rows_columnar
from kopek.charging.offline import (
    ChargeCommand,
    Charged,
    ChargeRows,
    ChargingContext,
    access_not_found,
    cdr_result,
    check_contract_chargeable,
    post_to_accounts,
    typed_item,
    with_low_balance,
    write_charge_rows,
)
from kopek.charging.rating_state import load_rating_state
from kopek.domain.accounts import resolve_payers
from kopek.domain.item import ChargeableItem
from kopek.domain.master import Account, AccountId, Contract
from kopek.errors import KopekError
from kopek.money import ExactInput
from kopek.rating.outcome import CounterKey
from kopek.rating.rate import CounterHold, CounterLife, RatingState, rate_item
from kopek.store.cdr_store import ChargingPlace, new_chunk_id
from kopek.store.uow import UnitOfWork

LOG = logging.getLogger(__name__)

CDRS_PER_CHUNK = 1_000
"""CDRs charged and committed together: a crash loses at most this much work."""

COLUMNAR_CHUNKS = 20
"""The vectorized path charges and commits this many chunks' worth of CDRs at once."""

Progress = Callable[[int], None]
PathTally = Callable[[str, int], None]
"""Told, after each chunk commits, how many CDRs it handled and on which path (``vectorized`` or ``row``): for metrics."""
VECTORIZED = "vectorized"
ROW = "row"


class PartitionReleased(Exception):
    """The worker no longer holds its partition: the job was cancelled, or its lease ran out and another worker took it."""


class WorkerStopped(Exception):
    """The worker was asked to stop (Ctrl-C): it stops between chunks, with every chunk it began committed."""


StopRequested = Callable[[], bool]
"""Asked between chunks: True when the worker should stop (it then raises :class:`WorkerStopped`)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A partition held by a worker: which job and partition, the worker, the rules of the job's mode, the lease."""

    job_id: str
    partition_key: str
    worker_id: str
    contract_first: bool
    first_fail: bool
    all_or_nothing: bool
    lease: timedelta
    chunk_cdrs: int = CDRS_PER_CHUNK
    plans: PlanCache | None = None
    """The compiled plans of the vectorized path; ``None``: the row path only."""
    tally: PathTally | None = None
    """Told what each chunk handled on which path; ``None``: nobody asks."""
    stop: StopRequested | None = None
    """Asked between chunks whether to stop; ``None``: the worker runs to the end."""

    def check_stop(self) -> None:
        """Raise :class:`WorkerStopped` when the worker was asked to stop."""
        if self.stop is not None and self.stop():
            raise WorkerStopped(f"rating job {self.job_id!r}: stopped at partition {self.partition_key!r}")


def rate_partition(claim: Claim, context: ChargingContext, progress: Progress | None) -> None:
    """Charge every pending CDR of the claimed partition; raises :class:`PartitionReleased` when the claim is lost."""
    if claim.all_or_nothing:
        _rate_contracts(claim, context, progress)
        return
    with UnitOfWork(context.engine, writes=False) as uow:
        stopped = uow.cdrs.stopped_contracts(claim.job_id, claim.partition_key)
    why = NotColumnar(FallbackReason.ROW_PATH_REQUESTED, "the job runs on the row path")
    if claim.plans is not None:
        # Vectorized chunks while they qualify; after the first that does not (nothing written), the rest takes the row path.
        vectorized = _VectorizedChunk(claim, stopped)
        try:
            while _journey(vectorized, context, progress) == claim.chunk_cdrs * COLUMNAR_CHUNKS:
                claim.check_stop()
            return  # A short chunk (or none) was the last.
        except NotColumnar as reason:
            why = reason
    row = _RowChunk(claim, stopped, why)
    while True:
        claim.check_stop()
        if _journey(row, context, progress) != claim.chunk_cdrs:
            return  # A short chunk was the last: no need for a transaction that finds nothing.


def rate_partitions_together(claims: Sequence[Claim], context: ChargingContext, progress: Progress | None) -> bool:
    """Charge several small claimed partitions as one chunk and mark them done, in one transaction: a vectorized chunk,
    or a row chunk when the job runs on the row path.

    Partitions share no state, so charging them together equals charging them one by
    one; together, the per-transaction work is paid once. False (nothing written) when
    a vectorized chunk needs the row path or the CDRs no longer fit one chunk: the caller
    then takes them one by one.
    """
    together: ChunkWay[Any] = _PartitionsTogether(claims) if claims[0].plans is not None else _RowPartitionsTogether(claims)
    try:
        return _journey(together, context, progress) is not None
    except NotColumnar:
        return False


def _rate_contracts(claim: Claim, context: ChargingContext, progress: Progress | None) -> None:
    """``SUBSCRIPTION_TRY``: each contract of the partition charged in one transaction, all or nothing."""
    with UnitOfWork(context.engine, writes=False) as uow:
        contracts = uow.cdrs.pending_contracts_of_partition(claim.job_id, claim.partition_key)
    for contract_id in contracts:
        claim.check_stop()
        try:
            _journey(_WholeContract(claim, contract_id), context, progress)
        except _Refused as refused:
            # The contract's transaction was rolled back: a second one records the refusal.
            _journey(_Refusal(claim, contract_id, refused), context, progress)


Cdrs = TypeVar("Cdrs")
"""What a chunk's read step hands its charge step: rows, columns, or (a refusal) what to write."""


class ChunkWay(ABC, Generic[Cdrs]):
    """What a chunk's journey (:func:`_journey`) takes from its path or mode: the claims it holds, how it reads its CDRs,
    how it charges them, and the path they are counted on."""

    path: str = ROW
    why: NotColumnar | None = None
    """Why the CDRs take the row path, counted with the job; ``None`` on the vectorized path."""

    def __init__(self, *claims: Claim) -> None:
        self.claims = claims

    @abstractmethod
    def read(self, uow: UnitOfWork) -> Cdrs | None:
        """The chunk's pending CDRs in charging order (the free ones taken for the job); ``None``: nothing to charge, and
        the transaction ends without writing."""

    @abstractmethod
    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: Cdrs) -> int:
        """Type, price and post ``cdrs``, and write the charges and the CDRs' outcomes; how many CDRs it handled."""

    def committed(self, handled: int) -> None:
        """Told that the chunk committed, with how many CDRs it handled."""


def _journey(way: ChunkWay[Cdrs], context: ChargingContext, progress: Progress | None) -> int | None:
    """A chunk's journey, the same on every path and in every mode, in one transaction; how many CDRs it handled, or
    ``None`` when it found none to charge (nothing written).

    Raises :class:`PartitionReleased` when the claim is lost, and whatever the way's charge raises to undo the chunk
    (nothing written): :class:`NotColumnar` (the vectorized path cannot take it), :class:`_Refused` (``SUBSCRIPTION_TRY``).
    """
    claim, *more = way.claims
    with UnitOfWork(context.engine) as uow:
        # Claim: the job still runs and this worker still holds the partitions; their leases are pushed forward.
        _hold(uow, claim, context, *more)
        # Read: the pending CDRs, in charging order.
        cdrs = way.read(uow)
        if cdrs is None:
            return None
        # Type, price, post; write the charges and the CDRs' outcomes.
        handled = way.charge(uow, context, cdrs)
        # Tally the chunk's CDRs by path, with the chunk, so it counts what commits.
        why = way.why
        reason, detail = (None, None) if why is None else (why.reason.value, str(why))
        uow.rating_paths.record(claim.job_id, way.path, handled, reason=reason, detail=detail)
        uow.commit()
    way.committed(handled)
    _report(claim, progress, handled, way.path)
    return handled


def _hold(uow: UnitOfWork, claim: Claim, context: ChargingContext, *more: Claim) -> None:
    """Check, inside a chunk's transaction, that the job still runs and that this worker still holds the partition
    (and the partitions of ``more`` claims of the same job), renewing their leases."""
    job = uow.rating_jobs.job(claim.job_id, share=True)
    if job is None or job["state"] != "running":
        raise PartitionReleased(f"rating job {claim.job_id!r} is {job['state'] if job else 'gone'}")
    keys = [claim.partition_key, *(other.partition_key for other in more)]
    if not uow.rating_jobs.renew_lease(claim.job_id, keys, claim.worker_id, lease_until=context.clock() + claim.lease):
        raise PartitionReleased(f"a partition of {keys[:3]} was taken over by another worker")


def _report(claim: Claim, progress: Progress | None, handled: int, path: str) -> None:
    if progress is not None and handled:
        progress(handled)
    if claim.tally is not None and handled:
        claim.tally(path, handled)


class _RowChunk(ChunkWay[list[dict[str, Any]]]):
    """The next chunk of a partition on the row path, ``why`` counted with the job. In a first-fail mode a CDR of a
    ``stopped`` contract is skipped, and a refused CDR stops its contract."""

    def __init__(self, claim: Claim, stopped: set[str | None], why: NotColumnar) -> None:
        super().__init__(claim)
        self._claim, self._stopped, self.why = claim, stopped, why

    def read(self, uow: UnitOfWork) -> list[dict[str, Any]] | None:
        claim = self._claim
        rows = uow.cdrs.pending_of_partition(claim.job_id, claim.partition_key, contract_first=claim.contract_first, limit=claim.chunk_cdrs)
        return rows or None

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: list[dict[str, Any]]) -> int:
        return _charge_rows(uow, context, self._claim, cdrs, self._stopped)


def _charge_rows(uow: UnitOfWork, context: ChargingContext, claim: Claim, cdrs: list[dict[str, Any]], stopped: set[str | None]) -> int:
    """Charge ``cdrs`` on the row path, one after the other, and write their charges and outcomes. In a first-fail mode a
    CDR of a ``stopped`` contract is skipped, and a refused CDR stops its contract."""
    rater = ChunkRater(uow, context, claim.job_id, cdrs)
    outcomes = []
    for row in cdrs:
        contract_id = row["contract_id"]
        if claim.first_fail and contract_id in stopped:
            outcomes.append({"id": row["id"], "status": "skipped"})
            continue
        try:
            charged = rater.charge(_command(claim.job_id, row), contract_id)
        except KopekError as error:
            outcomes.append({"id": row["id"]} | refusal(error))
            stopped.add(contract_id)
        else:
            outcomes.append({"id": row["id"]} | charged)
    rater.write()
    uow.cdrs.set_outcomes([outcome | {"chunk_id": rater.chunk_id} for outcome in outcomes])
    return len(cdrs)


class _Together(ChunkWay[Cdrs]):
    """Several small claimed partitions charged as one chunk, which marks them done; its read is ``None`` when their
    pending CDRs no longer fit one chunk."""

    def __init__(self, claims: Sequence[Claim]) -> None:
        super().__init__(*claims)
        self._first = claims[0]
        self._keys = [claim.partition_key for claim in claims]
        self._stopped: set[str | None] = set()

    def _fits(self, uow: UnitOfWork, count: int, limit: int) -> bool:
        """Whether ``count`` CDRs read fit a chunk of ``limit``; if so, the contracts a failure stopped are read too."""
        if count > limit:
            return False
        self._stopped = uow.cdrs.stopped_contracts(self._first.job_id, self._keys)
        return True

    def _done(self, uow: UnitOfWork, context: ChargingContext) -> None:
        first = self._first
        uow.rating_jobs.end_partition(first.job_id, self._keys, first.worker_id, status="done", at=context.clock())


class _RowPartitionsTogether(_Together[list[dict[str, Any]]]):
    """Several small partitions of a job on the row path charged as one row chunk."""

    why = NotColumnar(FallbackReason.ROW_PATH_REQUESTED, "the job runs on the row path")

    def read(self, uow: UnitOfWork) -> list[dict[str, Any]] | None:
        first = self._first
        rows = uow.cdrs.pending_of_partitions(first.job_id, self._keys, contract_first=first.contract_first, limit=first.chunk_cdrs + 1)
        return rows if self._fits(uow, len(rows), first.chunk_cdrs) else None

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: list[dict[str, Any]]) -> int:
        handled = _charge_rows(uow, context, self._first, cdrs, self._stopped) if cdrs else 0
        self._done(uow, context)
        return handled


class _VectorizedChunk(ChunkWay[pl.DataFrame]):
    """The next ``COLUMNAR_CHUNKS`` chunks' worth of a partition, charged column-wise; a chunk that does not qualify
    raises :class:`NotColumnar` before anything is written."""

    path = VECTORIZED

    def __init__(self, claim: Claim, stopped: set[str | None]) -> None:
        super().__init__(claim)
        self._claim, self._stopped = claim, stopped
        self._newly_stopped: set[str] = set()
        # In consumption order, every CDR up to the last one of a committed chunk has its outcome: the next chunk's
        # read starts after it, instead of passing over the partition's rated CDRs again.
        self._after: ChargingPlace | None = None
        self._last: ChargingPlace | None = None

    def read(self, uow: UnitOfWork) -> pl.DataFrame | None:
        claim = self._claim
        limit = claim.chunk_cdrs * COLUMNAR_CHUNKS
        after = None if claim.contract_first else self._after
        cdrs = uow.cdrs.pending_columns(claim.job_id, [claim.partition_key], contract_first=claim.contract_first, limit=limit, after=after)
        if cdrs.is_empty():
            return None
        last = cdrs.select(pl.col("consumption_date").last(), pl.col("id").last()).row(0)
        self._last = ChargingPlace(last[0], last[1])
        return cdrs

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: pl.DataFrame) -> int:
        claim = self._claim
        assert claim.plans is not None
        rules = ChunkRules(claim.job_id, claim.first_fail, self._stopped)
        try:
            self._newly_stopped = rate_rows_columnar(uow, context, claim.plans, cdrs, rules)
        except NotColumnar as reason:
            LOG.info("rating job %s, partition %s: row path from here (%s)", claim.job_id, claim.partition_key, reason)
            raise
        return cdrs.height

    def committed(self, handled: int) -> None:
        LOG.debug("rating job %s, partition %s: %d CDRs on the vectorized path", self._claim.job_id, self._claim.partition_key, handled)
        self._stopped.update(self._newly_stopped)
        self._after = self._last


class _PartitionsTogether(_Together[pl.DataFrame]):
    """Several small partitions charged as one vectorized chunk; raises :class:`NotColumnar` (nothing written) when the
    chunk does not qualify."""

    path = VECTORIZED

    def read(self, uow: UnitOfWork) -> pl.DataFrame | None:
        first = self._first
        limit = first.chunk_cdrs * COLUMNAR_CHUNKS
        cdrs = uow.cdrs.pending_columns(first.job_id, self._keys, contract_first=first.contract_first, limit=limit + 1)
        return cdrs if self._fits(uow, cdrs.height, limit) else None

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: pl.DataFrame) -> int:
        first = self._first
        assert first.plans is not None
        rules = ChunkRules(first.job_id, first.first_fail, self._stopped)
        try:
            if not cdrs.is_empty():
                rate_rows_columnar(uow, context, first.plans, cdrs, rules)
        except NotColumnar as reason:
            LOG.info("rating job %s, %d partitions: one by one (%s)", first.job_id, len(self._keys), reason)
            raise
        self._done(uow, context)
        return cdrs.height

    def committed(self, handled: int) -> None:
        LOG.debug("rating job %s: %d CDRs of %d partitions on the vectorized path", self._first.job_id, handled, len(self._keys))


class _Refused(Exception):
    """A CDR of a ``SUBSCRIPTION_TRY`` contract was refused: the contract's transaction is rolled back."""

    def __init__(self, cdr_id: str, error: KopekError) -> None:
        super().__init__(f"CDR {cdr_id!r} was refused: {error.message}")
        self.cdr_id, self.error = cdr_id, error


def _all_or_nothing() -> NotColumnar:
    return NotColumnar(FallbackReason.ALL_OR_NOTHING_MODE, "SUBSCRIPTION_TRY charges a contract at once")


class _WholeContract(ChunkWay[list[dict[str, Any]]]):
    """Every pending CDR of one contract of a partition (``SUBSCRIPTION_TRY``), read and charged a chunk at a time in
    one transaction; the first refusal raises :class:`_Refused`, which rolls the transaction back."""

    def __init__(self, claim: Claim, contract_id: str | None) -> None:
        super().__init__(claim)
        self._claim, self._contract_id, self.why = claim, contract_id, _all_or_nothing()

    def read(self, uow: UnitOfWork) -> list[dict[str, Any]]:
        # Never None: the contract's transaction commits even when it finds no CDR left.
        return self._next_rows(uow)

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: list[dict[str, Any]]) -> int:
        claim, contract_id, rows, handled = self._claim, self._contract_id, cdrs, 0
        while rows:
            rater = ChunkRater(uow, context, claim.job_id, rows)
            outcomes, failure = [], None
            for row in rows:
                try:
                    charged = rater.charge(_command(claim.job_id, row), contract_id)
                except KopekError as error:
                    failure = _Refused(row["id"], error)
                    break
                outcomes.append({"id": row["id"], "chunk_id": rater.chunk_id} | charged)
            rater.write()
            uow.cdrs.set_outcomes(outcomes)
            if failure is not None:
                raise failure
            handled += len(rows)
            rows = self._next_rows(uow)
        return handled

    def _next_rows(self, uow: UnitOfWork) -> list[dict[str, Any]]:
        claim, contract_id = self._claim, self._contract_id
        return uow.cdrs.pending_of_partition(
            claim.job_id,
            claim.partition_key,
            contract_first=True,
            limit=claim.chunk_cdrs,
            contract_id=contract_id,
            only_without_contract=contract_id is None,
        )


class _Refusal(ChunkWay[_Refused]):
    """After a refusal in ``SUBSCRIPTION_TRY`` (whose transaction was rolled back): that CDR failed, the contract's
    other pending CDRs skipped."""

    def __init__(self, claim: Claim, contract_id: str | None, refused: _Refused) -> None:
        super().__init__(claim)
        self._claim, self._contract_id, self._refused, self.why = claim, contract_id, refused, _all_or_nothing()

    def read(self, uow: UnitOfWork) -> _Refused:
        # The store reads the contract's pending CDRs as it skips them (below), in one call.
        return self._refused

    def charge(self, uow: UnitOfWork, context: ChargingContext, cdrs: _Refused) -> int:
        claim = self._claim
        # Every pending CDR of the contract is skipped (and so taken for the job), but the refused one, which gets its failure.
        chunk_id = new_chunk_id(claim.job_id, context.new_id)
        failed = {"id": cdrs.cdr_id} | refusal(cdrs.error)
        return uow.cdrs.skip_pending_of_contract(claim.job_id, claim.partition_key, self._contract_id, chunk_id=chunk_id, failed=failed)


def _command(job_id: str, row: Mapping[str, Any]) -> ChargeCommand:
    item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], json.loads(row["properties"]))
    return ChargeCommand(item, sender_job_id=job_id, cdr_id=row["id"])


class ChunkRater:
    """The state of a chunk's contracts, loaded and locked once, and the charges computed from it, not yet written; the
    chunk's id names them once written (:meth:`ChargeRows.post_as_chunk`)."""

    def __init__(self, uow: UnitOfWork, context: ChargingContext, job_id: str, rows: list[dict[str, Any]]) -> None:
        self._uow, self._context = uow, context
        self.chunk_id = new_chunk_id(job_id, context.new_id)
        self._rows = ChargeRows()
        try:
            self._catalog = context.catalogs.current(uow)
        except KopekError as error:
            # As charge_in: without a catalog, each CDR is refused (after nothing is locked).
            self._refusal: KopekError | None = error
            return
        self._refusal = None
        contract_ids = {row["contract_id"] for row in rows if row["contract_id"] is not None}
        # The contracts first (the first lock of every charging unit of work), then what they use; in one statement,
        # linked contracts before the others, each group by id: a single charge locks a linked contract, then its
        # parent, so a chunk holding both must not lock the parent first, or it could deadlock with such a charge.
        self._contracts: dict[str, Contract] = uow.master.contracts(contract_ids, lock=True)
        assert len(self._contracts) == len(contract_ids), "a claimed CDR's contract exists (foreign key of its access)"
        self._parents: dict[str, Contract | None] = {}
        values: dict[CounterKey, ExactInput] = {}
        lives: dict[CounterKey, CounterLife] = {}
        held: dict[CounterKey, CounterHold] = {}
        for contract_id, contract in self._contracts.items():
            state = load_rating_state(uow, self._catalog.catalog, contract)
            values.update(state.counters)
            lives.update(state.lives)
            # The same for every contract that sees a counter: a batch charge holds no grant of its own.
            held.update(state.held)
            self._parents[contract_id] = state.parent
        self._counters: Mapping[CounterKey, ExactInput] = values
        self._lives: Mapping[CounterKey, CounterLife] = lives
        self._held: Mapping[CounterKey, CounterHold] = held
        payers = {account_id for contract in self._contracts.values() for account_id in contract.roles.values()}
        self._accounts: dict[AccountId, Account] = uow.master.lock_accounts(payers)
        self._reserved = uow.sessions.reserved(self._accounts)

    def charge(self, command: ChargeCommand, contract_id: str | None) -> dict[str, Any]:
        """Charge one CDR as ``charge_in`` would, from the state the previous CDRs of the chunk left; its outcome's
        columns (``charged``, its operation id and when)."""
        if self._refusal is not None:
            raise self._refusal
        catalog = self._catalog
        typed = typed_item(catalog.catalog, command)
        if contract_id is None:
            raise access_not_found(typed)
        contract = self._contracts[contract_id]
        check_contract_chargeable(contract, typed.consumption_date)
        state = RatingState(contract, self._counters, self._lives, self._parents[contract_id], held=self._held)
        outcome = rate_item(catalog.catalog, state, typed)
        payers = resolve_payers(contract, outcome.charged_items)
        before = {account_id: self._accounts[account_id] for account_id in sorted(set(payers))}
        operations, after = post_to_accounts(outcome, payers, before, self._reserved)
        now, operation_id = self._context.clock(), self._context.new_id()
        charged = Charged(command, None, now, operation_id, catalog.version, contract, typed, outcome, payers, operations, after)
        charged = with_low_balance(charged)
        result = cdr_result(charged)
        self._rows.add(charged, result)
        self._accounts.update(after)
        next_state = state.after(outcome.counter_changes)
        self._counters, self._lives = next_state.counters, next_state.lives
        return {"status": "charged", "operation_id": result.operation_id, "charged_at": now}

    def write(self) -> None:
        self._rows.post_as_chunk(self.chunk_id)
        write_charge_rows(self._uow, self._rows)
        self._rows = ChargeRows()

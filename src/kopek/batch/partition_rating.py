"""Charging one claimed partition of a rating job, a chunk of CDRs per transaction.

A chunk loads the state of its contracts once (contracts, counters and payer accounts
locked, live reservations), charges each CDR with the very functions of the
single-item path (:func:`~kopek.charging.offline.charge_in`: typing, idempotency
replay, contract checks, ``rate_item``, ``post_charges``), keeps the state it leaves in
memory for the next CDR, and writes the whole chunk (operations, charged items, account
operations, balances, counters, notifications and the CDRs' statuses) with one
multi-row statement per table, in one commit. A crash loses at most the uncommitted
chunk, which a resume rates again from the committed state.

``SUBSCRIPTION_TRY`` charges each contract in one transaction (its CDRs read and written
a chunk at a time inside it): the first refusal rolls the contract back.

On the vectorized path (a claim with compiled ``plans``), a partition is first charged
``COLUMNAR_CHUNKS`` chunks at a time by :mod:`kopek.batch.columnar_rating`; the first
chunk that does not qualify is left unwritten and the rest of the partition takes the
row path above. Several small partitions may be charged as one vectorized chunk
(:func:`rate_partitions_together`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kopek.batch.cdr_outcomes import refusal
from kopek.batch.columnar_rating import ChunkRules, FallbackReason, NotColumnar, PlanCache, rate_rows_columnar
from kopek.charging.offline import (
    ChargeCommand,
    Charged,
    ChargeRows,
    ChargingContext,
    access_not_found,
    charge_result,
    check_contract_chargeable,
    post_to_accounts,
    replayed,
    request_hash,
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
        with UnitOfWork(context.engine, writes=False) as uow:
            contracts = uow.cdrs.pending_contracts_of_partition(claim.job_id, claim.partition_key)
        for contract_id in contracts:
            claim.check_stop()
            _report(claim, progress, _try_contract(claim, context, contract_id), ROW)
        return
    with UnitOfWork(context.engine, writes=False) as uow:
        stopped = uow.cdrs.stopped_contracts(claim.job_id, claim.partition_key)
    why = NotColumnar(FallbackReason.ROW_PATH_REQUESTED, "the job runs on the row path")
    if claim.plans is not None:
        # Vectorized chunks while they qualify; after the first that does not, the rest takes the row path.
        while isinstance(handled_columnar := _rate_chunk_columnar(claim, context, stopped), int):
            _report(claim, progress, handled_columnar, VECTORIZED)
            if handled_columnar < claim.chunk_cdrs * COLUMNAR_CHUNKS:
                return
            claim.check_stop()
        why = handled_columnar
    while True:
        claim.check_stop()
        handled = _rate_chunk(claim, context, stopped, why)
        _report(claim, progress, handled, ROW)
        if handled < claim.chunk_cdrs:
            return  # A short chunk was the last: no need for a transaction that finds nothing.


def _report(claim: Claim, progress: Progress | None, handled: int, path: str) -> None:
    if progress is not None and handled:
        progress(handled)
    if claim.tally is not None and handled:
        claim.tally(path, handled)


def _hold(uow: UnitOfWork, claim: Claim, context: ChargingContext, *more: Claim) -> None:
    """Check, inside a chunk's transaction, that the job still runs and that this worker still holds the partition
    (and the partitions of ``more`` claims of the same job), renewing their leases."""
    job = uow.rating_jobs.job(claim.job_id, share=True)
    if job is None or job["state"] != "running":
        raise PartitionReleased(f"rating job {claim.job_id!r} is {job['state'] if job else 'gone'}")
    keys = [claim.partition_key, *(other.partition_key for other in more)]
    if not uow.rating_jobs.renew_lease(claim.job_id, keys, claim.worker_id, lease_until=context.clock() + claim.lease):
        raise PartitionReleased(f"a partition of {keys[:3]} was taken over by another worker")


def _rate_chunk(claim: Claim, context: ChargingContext, stopped: set[str | None], why: NotColumnar) -> int:
    """Charge the next chunk of the partition in one transaction; how many CDRs it handled (0: none left). ``why``
    the row path is counted with the job."""
    with UnitOfWork(context.engine) as uow:
        _hold(uow, claim, context)
        rows = uow.cdrs.pending_of_partition(claim.job_id, claim.partition_key, contract_first=claim.contract_first, limit=claim.chunk_cdrs)
        if not rows:
            return 0
        rater = ChunkRater(uow, context, rows)
        outcomes = []
        for row in rows:
            contract_id = row["contract_id"]
            if claim.first_fail and contract_id in stopped:
                outcomes.append({"id": row["id"], "status": "skipped"})
                continue
            try:
                operation_id = rater.charge(_command(claim.job_id, row), contract_id)
            except KopekError as error:
                outcomes.append({"id": row["id"]} | refusal(error))
                stopped.add(contract_id)
            else:
                outcomes.append({"id": row["id"], "status": "charged", "operation_id": operation_id})
        rater.write()
        uow.cdrs.set_outcomes(outcomes)
        uow.rating_paths.record(claim.job_id, ROW, len(rows), reason=why.reason.value, detail=str(why))
        uow.commit()
        return len(rows)


def _rate_chunk_columnar(claim: Claim, context: ChargingContext, stopped: set[str | None]) -> int | NotColumnar:
    """Charge the next chunk on the vectorized path in one transaction; how many CDRs it handled, or (nothing
    written) why the chunk needs the row path."""
    assert claim.plans is not None
    with UnitOfWork(context.engine) as uow:
        _hold(uow, claim, context)
        limit = claim.chunk_cdrs * COLUMNAR_CHUNKS
        cdrs = uow.cdrs.pending_columns(claim.job_id, [claim.partition_key], contract_first=claim.contract_first, limit=limit)
        if cdrs.is_empty():
            return 0
        try:
            newly_stopped = rate_rows_columnar(uow, context, claim.plans, cdrs, ChunkRules(claim.job_id, claim.first_fail, stopped))
        except NotColumnar as reason:
            LOG.info("rating job %s, partition %s: row path from here (%s)", claim.job_id, claim.partition_key, reason)
            return reason
        uow.rating_paths.record(claim.job_id, VECTORIZED, cdrs.height)
        uow.commit()
    LOG.debug("rating job %s, partition %s: %d CDRs on the vectorized path", claim.job_id, claim.partition_key, cdrs.height)
    stopped.update(newly_stopped)
    return cdrs.height


def rate_partitions_together(claims: Sequence[Claim], context: ChargingContext, progress: Progress | None) -> bool:
    """Charge several small claimed partitions as one vectorized chunk and mark them done, in one transaction.

    Partitions share no state, so charging them together equals charging them one by
    one; together, the per-transaction work is paid once. False (nothing written) when
    the chunk needs the row path or no longer fits: the caller then takes them one by one.
    """
    first = claims[0]
    assert first.plans is not None
    keys = [claim.partition_key for claim in claims]
    limit = first.chunk_cdrs * COLUMNAR_CHUNKS
    with UnitOfWork(context.engine) as uow:
        _hold(uow, first, context, *claims[1:])
        cdrs = uow.cdrs.pending_columns(first.job_id, keys, contract_first=first.contract_first, limit=limit + 1)
        if cdrs.height > limit:
            return False
        stopped = uow.cdrs.stopped_contracts(first.job_id, keys)
        rules = ChunkRules(first.job_id, first.first_fail, stopped)
        try:
            if not cdrs.is_empty():
                rate_rows_columnar(uow, context, first.plans, cdrs, rules)
        except NotColumnar as reason:
            LOG.info("rating job %s, %d partitions: one by one (%s)", first.job_id, len(claims), reason)
            return False
        uow.rating_jobs.end_partition(first.job_id, keys, first.worker_id, status="done", at=context.clock())
        uow.rating_paths.record(first.job_id, VECTORIZED, cdrs.height)
        uow.commit()
    LOG.debug("rating job %s: %d CDRs of %d partitions on the vectorized path", first.job_id, cdrs.height, len(claims))
    _report(first, progress, cdrs.height, VECTORIZED)
    return True


def _try_contract(claim: Claim, context: ChargingContext, contract_id: str | None) -> int:
    """Charge all pending CDRs of one contract of the partition in one transaction, or none of them."""
    handled = 0
    with UnitOfWork(context.engine) as uow:
        _hold(uow, claim, context)
        failure = None
        while failure is None and (rows := _contract_chunk(uow, claim, contract_id)):
            rater = ChunkRater(uow, context, rows)
            outcomes = []
            for row in rows:
                try:
                    operation_id = rater.charge(_command(claim.job_id, row), contract_id)
                except KopekError as error:
                    failure = (row["id"], error)
                    break
                outcomes.append({"id": row["id"], "status": "charged", "operation_id": operation_id})
            rater.write()
            uow.cdrs.set_outcomes(outcomes)
            handled += len(rows)
        if failure is None:
            _count_all_or_nothing(uow, claim, handled)
            uow.commit()
            return handled
    return _refuse_contract(claim, context, contract_id, *failure)


def _contract_chunk(uow: UnitOfWork, claim: Claim, contract_id: str | None) -> list[dict[str, Any]]:
    return uow.cdrs.pending_of_partition(
        claim.job_id,
        claim.partition_key,
        contract_first=True,
        limit=claim.chunk_cdrs,
        contract_id=contract_id,
        only_without_contract=contract_id is None,
    )


def _refuse_contract(claim: Claim, context: ChargingContext, contract_id: str | None, cdr_id: str, error: KopekError) -> int:
    """After a refusal in ``SUBSCRIPTION_TRY`` (whose transaction was rolled back): that CDR failed, the others skipped."""
    with UnitOfWork(context.engine) as uow:
        _hold(uow, claim, context)
        # Every pending CDR of the contract is skipped (and so taken for the job), the refused one with them; then
        # the refused one gets its failure.
        handled = uow.cdrs.skip_pending_of_contract(claim.job_id, claim.partition_key, contract_id)
        uow.cdrs.set_outcomes([{"id": cdr_id} | refusal(error)])
        _count_all_or_nothing(uow, claim, handled)
        uow.commit()
    return handled


def _count_all_or_nothing(uow: UnitOfWork, claim: Claim, handled: int) -> None:
    reason = FallbackReason.ALL_OR_NOTHING_MODE
    uow.rating_paths.record(claim.job_id, ROW, handled, reason=reason.value, detail="SUBSCRIPTION_TRY charges a contract at once")


def _command(job_id: str, row: Mapping[str, Any]) -> ChargeCommand:
    item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], json.loads(row["properties"]))
    return ChargeCommand(item, sender_job_id=job_id, cdr_id=row["id"])


def _lock_order(uow: UnitOfWork, contract_ids: set[str]) -> list[str]:
    """The order to lock a chunk's contracts in: linked contracts before the others, each group by id.

    A single charge locks a linked contract, then its parent; a chunk holding both must
    not lock the parent first, or it could deadlock with such a charge.
    """
    if len(contract_ids) < 2:
        return sorted(contract_ids)
    linked = {contract_id for contract_id in contract_ids if (found := uow.master.contract(contract_id)) and found.parent_id is not None}
    return sorted(linked) + sorted(contract_ids - linked)


class ChunkRater:
    """The state of a chunk's contracts, loaded and locked once, and the charges computed from it, not yet written."""

    def __init__(self, uow: UnitOfWork, context: ChargingContext, rows: list[dict[str, Any]]) -> None:
        self._uow, self._context = uow, context
        self._rows = ChargeRows()
        try:
            self._catalog = context.catalogs.current(uow)
        except KopekError as error:
            # As charge_in: without a catalog, each CDR is refused (after nothing is locked).
            self._refusal: KopekError | None = error
            return
        self._refusal = None
        self._stored = uow.charging.operations_of_cdrs([row["id"] for row in rows])
        contract_ids = _lock_order(uow, {row["contract_id"] for row in rows if row["contract_id"] is not None})
        # The contracts first (the first lock of every charging unit of work), then what they use.
        self._contracts: dict[str, Contract] = {}
        for contract_id in contract_ids:
            contract = uow.master.contract(contract_id, lock=True)
            assert contract is not None, "a claimed CDR's contract exists (foreign key of its access)"
            self._contracts[contract_id] = contract
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

    def charge(self, command: ChargeCommand, contract_id: str | None) -> str:
        """Charge one CDR as ``charge_in`` would, from the state the previous CDRs of the chunk left; its operation id."""
        if self._refusal is not None:
            raise self._refusal
        catalog = self._catalog
        typed = typed_item(catalog.catalog, command)
        digest = request_hash(typed)
        replay = replayed(command, digest, self._stored.get(command.cdr_id or ""))
        if replay is not None:
            return replay.operation_id
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
        charged = Charged(command, digest, now, operation_id, catalog.version, contract, typed, outcome, payers, operations, after)
        charged = with_low_balance(charged)
        result = charge_result(charged)
        self._rows.add(charged, result)
        self._accounts.update(after)
        next_state = state.after(outcome.counter_changes)
        self._counters, self._lives = next_state.counters, next_state.lives
        return result.operation_id

    def write(self) -> None:
        write_charge_rows(self._uow, self._rows)
        self._rows = ChargeRows()

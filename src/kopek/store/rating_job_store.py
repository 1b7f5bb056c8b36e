"""Rating jobs: one row per job (mode, filters, state, timestamps) and one per partition of its CDRs.

A partition is claimed by one worker at a time with a lease: ``running`` until
``lease_until``, renewed by each chunk the worker commits. A partition whose lease ran
out (its worker died) can be claimed again. Counts come from the CDRs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.schema import contract_items, contract_roles, contracts, rating_job_members, rating_job_partitions, rating_jobs

OPEN = "open"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
RECHARGE = "RECHARGE"
"""The mode of mass recharging jobs (docs/recharging.md): their partitions are contracts, each recharged once."""

_partitions = rating_job_partitions.c


class RatingJobStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(rating_jobs).values(**values))

    def job(self, job_id: str, *, lock: bool = False, share: bool = False, recharging: bool = False) -> dict[str, Any] | None:
        """The job's row; ``lock`` takes its row lock, ``share`` a shared one (workers' chunks, which a cancel waits for).
        A rating job, or with ``recharging`` a mass recharging job (they share the table and its partitions)."""
        mode = rating_jobs.c.mode == RECHARGE if recharging else rating_jobs.c.mode != RECHARGE
        query = sa.select(rating_jobs).where(rating_jobs.c.id == job_id, mode)
        if lock or share:
            query = query.with_for_update(read=not lock)
        row = self._connection.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def ended_jobs(self, states: Sequence[str]) -> sa.Select[tuple[str]]:
        """A query of the ids of the rating jobs in ``states`` (for use as a subquery)."""
        return sa.select(rating_jobs.c.id).where(rating_jobs.c.state.in_(list(states)), rating_jobs.c.mode != RECHARGE)

    def scoped_jobs(self, states: Sequence[str]) -> list[str]:
        """The ids of the rating jobs with a scope in ``states`` (the ones a starting job overlaps)."""
        where = (rating_jobs.c.state.in_(list(states)), rating_jobs.c.mode != RECHARGE, rating_jobs.c.cdr_seq_max.is_not(None))
        return list(self._connection.execute(sa.select(rating_jobs.c.id).where(*where).order_by(rating_jobs.c.id)).scalars())

    def update(self, job_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(rating_jobs).where(rating_jobs.c.id == job_id).values(**values))

    # ---- partitions ---------------------------------------------------------------------------

    def insert_members(self, job_id: str, members: Sequence[tuple[str, str | None, str | None, str | None]]) -> None:
        """Record what the job's partitions hold: ``(partition_key, contract_id, service_id, user_id)`` rows, a contract's
        CDRs, or (no contract) those of a service id and user id that no access selects."""
        rows = [
            {"job_id": job_id, "partition_key": key, "contract_id": contract_id, "service_id": service_id, "user_id": user_id}
            for key, contract_id, service_id, user_id in members
        ]
        if rows:
            self._connection.execute(sa.insert(rating_job_members), rows)

    def move_members(self, job_id: str, keys: dict[str, str]) -> None:
        """Put each contract (a key of ``keys``) in the partition it maps to."""
        if keys:
            query = (
                sa.update(rating_job_members)
                .where(rating_job_members.c.job_id == job_id, rating_job_members.c.contract_id == sa.bindparam("contract"))
                .values(partition_key=sa.bindparam("key"))
            )
            self._connection.execute(query, [{"contract": contract, "key": key} for contract, key in keys.items()])

    def insert_partitions(self, job_id: str, counts: Sequence[tuple[str, int]]) -> None:
        rows = [{"job_id": job_id, "partition_key": key, "status": OPEN, "cdr_count": count} for key, count in counts]
        if rows:
            self._connection.execute(sa.insert(rating_job_partitions), rows)

    def claim_partition(self, job_id: str, worker_id: str, *, now: datetime, lease_until: datetime) -> str | None:
        """Claim the next open partition (or one whose lease ran out) for ``worker_id``; its key, or None.

        Largest first, so the last partitions to finish are small ones. On PostgreSQL the
        row is locked with ``SKIP LOCKED``: two workers never wait for or take the same one.
        """
        claimable = sa.or_(_partitions.status == OPEN, sa.and_(_partitions.status == RUNNING, _partitions.lease_until <= now))
        query = (
            sa.select(_partitions.partition_key)
            .where(_partitions.job_id == job_id, claimable)
            .order_by(_partitions.cdr_count.desc(), _partitions.partition_key)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        key = self._connection.execute(query).scalar_one_or_none()
        if key is None:
            return None
        self._connection.execute(
            sa.update(rating_job_partitions)
            .where(_partitions.job_id == job_id, _partitions.partition_key == key)
            .values(status=RUNNING, worker_id=worker_id, claimed_at=now, lease_until=lease_until)
        )
        return str(key)

    def claim_small_partitions(
        self, job_id: str, worker_id: str, *, now: datetime, lease_until: datetime, cdrs: int, limit: int
    ) -> list[str]:
        """Claim, largest first, open partitions (or ones whose lease ran out) holding together at most ``cdrs`` CDRs,
        at most ``limit`` of them, for one worker to charge together; their keys (empty when none fits)."""
        claimable = sa.or_(_partitions.status == OPEN, sa.and_(_partitions.status == RUNNING, _partitions.lease_until <= now))
        query = (
            sa.select(_partitions.partition_key, _partitions.cdr_count)
            .where(_partitions.job_id == job_id, claimable, _partitions.cdr_count <= cdrs)
            .order_by(_partitions.cdr_count.desc(), _partitions.partition_key)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        keys, total = [], 0
        for key, count in self._connection.execute(query):
            if total + int(count) <= cdrs:
                keys.append(str(key))
                total += int(count)
        if keys:
            self._connection.execute(
                sa.update(rating_job_partitions)
                .where(_partitions.job_id == job_id, _partitions.partition_key.in_(keys))
                .values(status=RUNNING, worker_id=worker_id, claimed_at=now, lease_until=lease_until)
            )
        return keys

    def renew_lease(self, job_id: str, key: str | Sequence[str], worker_id: str, *, lease_until: datetime) -> bool:
        """Extend ``worker_id``'s lease on a partition (or several); False when it lost one (its lease ran out and another
        worker took it)."""
        keys = [key] if isinstance(key, str) else list(key)
        updated = self._connection.execute(
            sa.update(rating_job_partitions)
            .where(
                _partitions.job_id == job_id,
                _partitions.partition_key.in_(keys),
                _partitions.worker_id == worker_id,
                _partitions.status == RUNNING,
            )
            .values(lease_until=lease_until)
        )
        return updated.rowcount == len(keys)

    def end_partition(self, job_id: str, key: str | Sequence[str], worker_id: str, *, status: str, at: datetime) -> None:
        """Mark the worker's partition (or partitions) ``status``."""
        keys = [key] if isinstance(key, str) else list(key)
        self._connection.execute(
            sa.update(rating_job_partitions)
            .where(_partitions.job_id == job_id, _partitions.partition_key.in_(keys), _partitions.worker_id == worker_id)
            .values(status=status, finished_at=at, lease_until=None)
        )

    def release_partitions(self, job_id: str, worker_id: str) -> int:
        """Give back the partitions ``worker_id`` runs in the job: open, with no worker and no lease, so that any worker
        claims them at once; how many."""
        query = (
            sa.update(rating_job_partitions)
            .where(_partitions.job_id == job_id, _partitions.worker_id == worker_id, _partitions.status == RUNNING)
            .values(status=OPEN, worker_id=None, claimed_at=None, lease_until=None)
        )
        return int(self._connection.execute(query).rowcount)

    def partition_counts(self, job_id: str) -> dict[str, int]:
        """How many partitions of the job have each status."""
        query = sa.select(_partitions.status, sa.func.count()).where(_partitions.job_id == job_id).group_by(_partitions.status)
        return {str(status): int(count) for status, count in self._connection.execute(query)}

    def set_partitions(self, job_id: str, *, from_statuses: Sequence[str], status: str, at: datetime | None = None) -> None:
        """Move the job's partitions in ``from_statuses`` to ``status`` (reopening after a fault, cancelling)."""
        self._connection.execute(
            sa.update(rating_job_partitions)
            .where(_partitions.job_id == job_id, _partitions.status.in_(list(from_statuses)))
            .values(status=status, lease_until=None, finished_at=at)
        )


def job_contract_links(connection: sa.Connection, job_id: str) -> list[tuple[str, str, str]]:
    """What ties the contracts of a job's partitions (``rating_job_members``) to shared state: ``(contract, kind, target)`` rows.

    Kinds: ``parent`` (a linked contract uses its parent's counters), ``account`` (an
    account paying one of its roles) and ``plan`` (a charge plan of its items, whose
    shared counters it may use).
    """
    members = rating_job_members.c
    job_contracts = sa.select(members.contract_id).where(members.job_id == job_id, members.contract_id.is_not(None))
    queries = [
        sa.select(contracts.c.id, sa.literal("parent"), contracts.c.parent_id).where(
            contracts.c.id.in_(job_contracts), contracts.c.parent_id.is_not(None)
        ),
        sa.select(contract_roles.c.contract_id, sa.literal("account"), contract_roles.c.account_id).where(
            contract_roles.c.contract_id.in_(job_contracts)
        ),
        sa.select(contract_items.c.contract_id, sa.literal("plan"), contract_items.c.charge_plan).where(
            contract_items.c.contract_id.in_(job_contracts)
        ),
        sa.select(contracts.c.id, sa.literal("self"), contracts.c.id).where(contracts.c.id.in_(job_contracts)),
    ]
    return [(str(row[0]), str(row[1]), str(row[2])) for query in queries for row in connection.execute(query)]

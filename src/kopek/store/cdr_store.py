"""Stored CDRs (call detail records) waiting for, or done with, batch rating."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from kopek.clock import IdSource
from kopek.store.bulk import insert_frame, insert_many, instant_column, instant_read, select_frame
from kopek.store.column_values import binder
from kopek.store.job_scope import (
    FREE,
    FREE_UNINDEXED,
    UNRATED,
    Scopes,
    cdrs_with_contracts,
    contract_of_cdr,
    free_for,
    load_scopes,
    outcome_of,
    selects_cdr,
)
from kopek.store.schema import CDR_STOPPED, accesses, cdr_free_floor, cdr_outcomes, cdrs, rating_job_members

__all__ = ["PENDING", "TEMPORARY", "CdrStates", "CdrStore", "ChargingPlace", "FreeGroup", "cdr_states", "contract_of_cdr", "free_floor"]

_TO_CHARGE = (
    cdrs.c.id,
    cdrs.c.item_class,
    cdrs.c.consumption_date,
    cdrs.c.service_id,
    cdrs.c.user_id,
    cdrs.c.properties,
    cdrs.c.contract_id,
)
"""What charging a CDR reads of it."""
TO_CHARGE_COLUMNS = {column.name: pl.String for column in _TO_CHARGE}
"""The columns :meth:`CdrStore.pending_columns` reads, as the database gives them (the consumption date then parsed)."""
TEMPORARY = "TEMPORARY_ILLEGAL_STATE"
"""The error category of a CDR that a later job rates again."""
_OUTCOME_COLUMNS = ("status", "operation_id", "charged_at", "error_category", "error_reason", "error_code", "error_message", "chunk_id")
_HOLDER_COLUMNS = ("job_id", "contract_id", "partition_key")
"""What a CDR's outcome says of the job that rated it: the job, the CDR's contract and the job's partition."""
_CDR_KEY = ("service_id", "user_id", "seq")
"""The columns of ``cdrs`` that key a CDR's outcome (:func:`kopek.store.job_scope.outcome_of`)."""
_READ_COLUMNS = (*_CDR_KEY, *_HOLDER_COLUMNS)
"""What the outcome of a CDR read for a job names: the CDR's key, then the job, its contract and partition."""
_READ_SCHEMA = {"id": pl.String} | dict.fromkeys(_READ_COLUMNS, pl.String) | {"seq": pl.Int64}
"""The columns kept of CDRs read as columns for their outcomes."""
_outcome = cdr_outcomes.alias("outcome")
_HELD = (cdrs.c.job_id.is_not(None), UNRATED)
"""A CDR a job holds from its start and has not rated yet. ``job_id IS NOT NULL`` for ``ix_cdrs_job_partition``."""


PENDING = "pending"
"""The status of a stored CDR without an outcome."""


def cdr_states() -> CdrStates:
    """Every stored CDR with its state (:class:`CdrStates`)."""
    joined = cdrs.outerjoin(_outcome, outcome_of(_outcome))
    columns: dict[str, sa.ColumnElement[Any]] = {column.name: column for column in cdrs.c if column.name not in _HOLDER_COLUMNS}
    columns["status"] = sa.func.coalesce(_outcome.c.status, sa.literal(PENDING))
    columns |= {name: _outcome.c[name] for name in _OUTCOME_COLUMNS if name != "status"}
    columns |= {name: sa.func.coalesce(_outcome.c[name], cdrs.c[name]) for name in _HOLDER_COLUMNS}
    return CdrStates(joined, columns, _outcome)


@dataclass(frozen=True, slots=True)
class CdrStates:
    """Stored CDRs with their state: ``joined`` (``cdrs`` with their outcomes, ``outcome``) to select ``columns`` from,
    by name: the columns of ``cdrs``, ``status`` (``pending`` without an outcome), the outcome's columns, and the job,
    contract and partition of the outcome or, without one, of ``cdrs``. Conditions on ``cdrs`` itself (e.g.
    :func:`contract_of_cdr`) and on ``outcome`` apply as they are."""

    joined: sa.Join
    columns: dict[str, sa.ColumnElement[Any]]
    outcome: sa.FromClause

    def select(self) -> sa.Select[Any]:
        return sa.select(*(column.label(name) for name, column in self.columns.items())).select_from(self.joined)

    def pending(self, floor: int) -> sa.ColumnElement[bool]:
        """The pending CDRs: without an outcome, and at or above ``floor`` (:func:`free_floor`) or held by a job (every
        CDR below the floor has an outcome or a job), so that a look-up starts from the floor in ``ix_cdrs_seq`` and
        passes over the CDRs rated before it, not through every stored CDR. The floor is a value, not a subquery, so
        that PostgreSQL plans with it."""
        return sa.and_(self.outcome.c.seq.is_(None), sa.or_(cdrs.c.seq >= floor, cdrs.c.job_id.is_not(None)))


def free_floor(connection: sa.Connection) -> int:
    """The floor of the free CDRs (``cdr_free_floor``): every CDR numbered below it has an outcome or is held by a job
    (0 before the first job's start)."""
    stored = _stored_floor(connection)
    return 0 if stored is None else stored


def _stored_floor(connection: sa.Connection) -> int | None:
    stored = connection.execute(sa.select(cdr_free_floor.c.seq).where(cdr_free_floor.c.id == 1)).scalar_one_or_none()
    return None if stored is None else int(stored)


def new_chunk_id(job_id: str, new_id: IdSource) -> str:
    """A new chunk's id, ``JOB-ID/ID``: the CDRs it rated, their charged items and its account operations carry it."""
    return f"{job_id}/{new_id()}"


def job_of_chunk(chunk_id: str) -> str:
    """The id of the rating job whose chunk is ``chunk_id``."""
    return chunk_id.rpartition("/")[0]


class CdrStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._read: dict[str, dict[str, Any]] = {}
        """CDRs read as rows for a job in this transaction, by id: what their outcome names (``_READ_COLUMNS``: the
        CDR's key, the job, the CDR's contract and the job's partition)."""
        self._read_columns: list[pl.DataFrame] = []
        """The same of CDRs read as columns (``id`` and ``_READ_COLUMNS``)."""

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` already stored."""
        if not ids:
            return set()
        return set(self._connection.execute(sa.select(cdrs.c.id).where(cdrs.c.id.in_(list(ids)))).scalars())

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store new CDRs. Each gets the next ``seq``: PostgreSQL numbers them; on SQLite, whose one write lock the
        import holds, the largest stored ``seq`` is read and counted on from."""
        if not rows:
            return
        if self._connection.dialect.name != "postgresql":
            first = self.seq_max() + 1
            rows = [row | {"seq": first + number} for number, row in enumerate(rows)]
        self._connection.execute(sa.insert(cdrs), list(rows))

    def seq_max(self) -> int:
        """The ``seq`` of the last CDR imported (0: none)."""
        return int(self._connection.execute(sa.select(sa.func.coalesce(sa.func.max(cdrs.c.seq), 0))).scalar_one())

    def advance_free_floor(self, seq_max: int) -> int:
        """Move the floor of the free CDRs (``cdr_free_floor``) up to the first CDR from it that has no outcome and no
        job (past ``seq_max``, the last CDR, when none has), and return it: every CDR below it has an outcome or a job.
        The search walks ``ix_cdrs_seq`` from the floor, so it costs what was rated since the floor last moved. Call it
        at a job's start and end, under :meth:`lock_for_job_start`."""
        stored = _stored_floor(self._connection)
        floor = 0 if stored is None else stored  # No row yet: from the first CDR.
        first_free = sa.select(cdrs.c.seq).where(cdrs.c.seq >= floor, cdrs.c.job_id.is_(None), UNRATED).order_by(cdrs.c.seq).limit(1)
        found = self._connection.execute(first_free).scalar_one_or_none()
        moved = int(found) if found is not None else seq_max + 1
        if stored is None:
            self._connection.execute(sa.insert(cdr_free_floor).values(id=1, seq=moved))
        elif moved != floor:
            self._connection.execute(sa.update(cdr_free_floor).where(cdr_free_floor.c.id == 1).values(seq=moved))
        return moved

    def lock_for_job_start(self) -> None:
        """PostgreSQL: hold off imports and other job starts until this transaction ends (a job start reads the CDRs
        imported so far and the jobs running; see docs/batch.md). SQLite: its one write lock, taken at ``BEGIN
        IMMEDIATE``, already does."""
        if self._connection.dialect.name == "postgresql":
            self._connection.exec_driver_sql("LOCK TABLE cdrs IN SHARE ROW EXCLUSIVE MODE")

    def cdr(self, cdr_id: str) -> dict[str, Any] | None:
        """The CDR with its state (the columns of :func:`cdr_states`); None when it is not stored."""
        row = self._connection.execute(cdr_states().select().where(cdrs.c.id == cdr_id)).mappings().first()
        return dict(row) if row is not None else None

    def count_by_status(self) -> dict[str, int]:
        """How many stored CDRs have each status (absent: none): the outcomes by status, and the CDRs without one pending."""
        query = sa.select(cdr_outcomes.c.status, sa.func.count()).group_by(cdr_outcomes.c.status)
        counts = {str(status): int(count) for status, count in self._connection.execute(query)}
        pending = self.stored() - sum(counts.values())
        return counts | ({"pending": pending} if pending else {})

    def stored(self) -> int:
        """How many CDRs the store holds."""
        return int(self._connection.execute(sa.select(sa.func.count()).select_from(cdrs)).scalar_one())

    def free_groups(self, scopes: Scopes, *, contract_ids: Sequence[str] | None = None) -> list[FreeGroup]:
        """The free CDRs a job starting with ``scopes`` takes (of ``contract_ids`` when given), counted by contract
        (as its access selects it at its consumption date), and without a contract by service id and user id.
        Reads only: nothing is written to the CDRs."""
        joined, contract = cdrs_with_contracts()
        where = free_for(scopes, contract)
        if contract_ids is not None:
            where.append(contract.in_(list(contract_ids)))
        free = (
            sa.select(contract.label("contract_id"), cdrs.c.service_id, cdrs.c.user_id).select_from(joined).where(*where).subquery("free")
        )
        without = free.c.contract_id.is_(None)
        service = sa.case((without, free.c.service_id), else_=sa.null())
        user = sa.case((without, free.c.user_id), else_=sa.null())
        query = sa.select(free.c.contract_id, service, user, sa.func.count()).group_by(free.c.contract_id, service, user)
        return [FreeGroup(row[0], row[1], row[2], int(row[3])) for row in self._connection.execute(query)]

    def claim_retries_for_job(
        self,
        job_id: str,
        conditions: Sequence[sa.ColumnElement[bool]],
        ended_jobs: sa.Select[tuple[str]],
        *,
        contract_ids: Sequence[str] | None = None,
        temporary_only: bool,
    ) -> int:
        """Give ``job_id`` the failed and skipped CDRs of ``ended_jobs`` that meet ``conditions`` (on ``cdrs``): the job
        holds them from now on, with their contract and first partition key (``contract/ID`` or
        ``access/SERVICE/USER``), and their outcomes are removed (the job writes new ones); how many.

        ``temporary_only``: only the CDRs that failed for a temporary reason and the CDRs of the same contract that
        their job skipped (a first-fail mode after that failure, or a failed ``SUBSCRIPTION_TRY`` contract); else
        every failed and skipped CDR.
        """
        contract = contract_of_cdr()
        outcome = cdr_outcomes
        # The failed and skipped outcomes of the ended jobs, found through ix_cdr_outcomes_job_stopped (its condition as
        # text, so that PostgreSQL matches it), then their CDRs by id: never a pass over every stored CDR.
        retried: list[sa.ColumnElement[bool] | sa.TextClause] = [sa.text(CDR_STOPPED), outcome.c.job_id.in_(ended_jobs.scalar_subquery())]
        if temporary_only:
            earlier = cdr_outcomes.alias("earlier")
            stopped_by_temporary = (
                sa.select(earlier.c.seq)
                .where(
                    earlier.c.job_id == outcome.c.job_id,
                    earlier.c.contract_id == outcome.c.contract_id,
                    earlier.c.status == "failed",
                    earlier.c.error_category == TEMPORARY,
                )
                .exists()
            )
            temporary = sa.and_(outcome.c.status == "failed", outcome.c.error_category == TEMPORARY)
            retried.append(sa.or_(temporary, sa.and_(outcome.c.status == "skipped", stopped_by_temporary)))
        where = [cdrs.c.seq.in_(sa.select(outcome.c.seq).where(*retried)), *conditions]
        if contract_ids is not None:
            where.append(contract.in_(list(contract_ids)))
        values = {"job_id": job_id, "contract_id": contract, "partition_key": _first_partition_key(contract)}
        taken = int(self._connection.execute(sa.update(cdrs).where(*where).values(**values)).rowcount)
        if taken:
            held = sa.select(*(cdrs.c[name] for name in _CDR_KEY)).where(cdrs.c.job_id == job_id)
            key = sa.tuple_(*(cdr_outcomes.c[name] for name in _CDR_KEY))
            self._connection.execute(sa.delete(cdr_outcomes).where(key.in_(held)))
        return taken

    def assign_unpartitioned(self, job_id: str) -> int:
        """Resolve the contract and first partition key of a job's pending CDRs that have none (a job started before partitions)."""
        contract = contract_of_cdr()
        where = (cdrs.c.job_id == job_id, cdrs.c.partition_key.is_(None), *_HELD)
        query = sa.update(cdrs).where(*where).values(contract_id=contract, partition_key=_first_partition_key(contract))
        return int(self._connection.execute(query).rowcount)

    def held_contracts(self, job_id: str) -> list[str]:
        """The distinct contracts of the pending CDRs the job holds (those its start took again)."""
        where = (cdrs.c.job_id == job_id, cdrs.c.contract_id.is_not(None), *_HELD)
        return list(self._connection.execute(sa.select(cdrs.c.contract_id).where(*where).distinct()).scalars())

    def move_to_partition(self, job_id: str, keys: dict[str, str]) -> None:
        """Put the CDRs the job holds of each contract (a key of ``keys``) in the partition it maps to."""
        if not keys:
            return
        query = (
            sa.update(cdrs)
            .where(cdrs.c.job_id == job_id, cdrs.c.contract_id == sa.bindparam("contract"))
            .values(partition_key=sa.bindparam("key"))
        )
        self._connection.execute(query, [{"contract": contract, "key": key} for contract, key in keys.items()])

    def partition_sizes(self, job_id: str) -> list[tuple[str, int]]:
        """The partitions of the pending CDRs the job holds and how many each holds."""
        where = (cdrs.c.job_id == job_id, cdrs.c.partition_key.is_not(None), *_HELD)
        query = sa.select(cdrs.c.partition_key, sa.func.count()).where(*where).group_by(cdrs.c.partition_key)
        return [(str(key), int(count)) for key, count in self._connection.execute(query)]

    def pending_of_partition(
        self,
        job_id: str,
        key: str,
        *,
        contract_first: bool,
        limit: int,
        contract_id: str | None = None,
        only_without_contract: bool = False,
    ) -> list[dict[str, Any]]:
        """The next ``limit`` pending CDRs of a partition: by consumption date, or contract by contract when ``contract_first``.

        The free CDRs among them (see :mod:`kopek.store.job_scope`) are taken for the job in the caller's transaction:
        their outcomes name its id, contract and partition (a chunk that does not commit gives them back).
        """
        held = self._held([key], job_id)
        where = []
        if contract_id is not None:
            where.append(held.c.contract_id == contract_id)
        elif only_without_contract:
            where.append(held.c.contract_id.is_(None))
        return self._take(job_id, sa.select(held).where(*where).order_by(*_charging_order(held, contract_first)).limit(limit))

    def pending_of_partitions(self, job_id: str, keys: Sequence[str], *, contract_first: bool, limit: int) -> list[dict[str, Any]]:
        """The next ``limit`` pending CDRs of several partitions: partition by partition, each in the order of
        :meth:`pending_of_partition`; the free ones among them are taken for the job as it takes them."""
        held = self._held(keys, job_id)
        return self._take(job_id, sa.select(held).order_by(held.c.partition_key, *_charging_order(held, contract_first)).limit(limit))

    def pending_contracts_of_partition(self, job_id: str, key: str) -> list[str | None]:
        """The contracts (None: no access) that still have pending CDRs in a partition, in order."""
        held = self._held([key], job_id)
        return list(self._connection.execute(sa.select(held.c.contract_id).distinct().order_by(held.c.contract_id)).scalars())

    def _held(self, keys: Sequence[str], job_id: str) -> sa.Subquery:
        """The pending CDRs the partitions ``keys`` of a job hold: those it holds from its start and, for a job with a
        scope, the free ones its scope covers there (``free`` = 1), with ``contract_id`` and ``partition_key``."""
        taken = sa.select(*_TO_CHARGE, cdrs.c.partition_key, cdrs.c.seq, sa.literal(0).label("free")).where(
            cdrs.c.job_id == job_id, cdrs.c.partition_key.in_(list(keys)), *_HELD
        )
        scopes = load_scopes(self._connection, job_id)
        if scopes is None:
            return taken.subquery("held")
        sqlite = self._connection.dialect.name == "sqlite"
        return sa.union_all(taken, *_free_of_partitions(scopes, keys, sqlite=sqlite)).subquery("held")

    def _take(self, job_id: str, query: sa.Select[Any]) -> list[dict[str, Any]]:
        rows = self._to_charge(query)
        # Not written here: the outcome of each CDR, written in this transaction, carries them (one write per CDR).
        for row in rows:
            self._read[row["id"]] = {name: row[name] for name in _READ_COLUMNS if name != "job_id"} | {"job_id": job_id}
            del row["free"], row["partition_key"], row["seq"]
        return rows

    def _to_charge(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        result = self._connection.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]

    def pending_columns(
        self, job_id: str, keys: Sequence[str], *, contract_first: bool, limit: int, after: ChargingPlace | None = None
    ) -> pl.DataFrame:
        """The next ``limit`` pending CDRs of the partitions ``keys`` as columns (``TO_CHARGE_COLUMNS``,
        ``consumption_date`` an instant in UTC): partition by partition, each in the order of
        :meth:`pending_of_partition`, which reads the same CDRs of one partition as rows; the free ones among them are
        taken for the job as :meth:`pending_of_partition` takes them. Given ``after`` (in consumption order only), only
        the CDRs that come after it in that order: the caller knows every CDR up to it has an outcome.

        PostgreSQL writes them with ``COPY ... TO STDOUT`` as CSV, which Polars reads; SQLite's rows are fetched as the
        driver's tuples straight into Polars. No Python object is made per CDR but the driver's own."""
        assert after is None or not contract_first, "a place in consumption order bounds only that order"
        held = self._held(keys, job_id)
        within = _charging_order(held, contract_first)
        order = (held.c.partition_key, *within) if len(keys) > 1 else within
        columns = [*_columns_read(self._connection, held), held.c.partition_key, held.c.seq, held.c.free]
        schema = TO_CHARGE_COLUMNS | {"partition_key": pl.String, "seq": pl.Int64, "free": pl.String}
        query = sa.select(*columns).order_by(*order).limit(limit)
        if after is not None:
            query = query.where(*_after_place(held, after, self._connection.dialect))
        frame = select_frame(self._connection, query, schema)
        self._read_columns.append(frame.select("id", *_CDR_KEY, pl.lit(job_id).alias("job_id"), "contract_id", "partition_key"))
        return frame.drop("partition_key", "seq", "free").with_columns(instant_column(self._connection, pl.col("consumption_date")))

    def stopped_contracts(self, job_id: str, key: str | Sequence[str]) -> set[str | None]:
        """Contracts (None: no access) of a partition (or of several) with a CDR already ``failed`` or ``skipped`` in this job."""
        keys = [key] if isinstance(key, str) else list(key)
        # The index's own condition, as text: a statement prepared with bound statuses could not use ix_cdr_outcomes_job_stopped.
        outcome = cdr_outcomes.c
        where = (sa.text(CDR_STOPPED), outcome.job_id == job_id, outcome.partition_key.in_(keys))
        return set(self._connection.execute(sa.select(outcome.contract_id).where(*where).distinct()).scalars())

    def set_outcomes(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Write the outcomes of CDRs read for a job in this transaction, in one statement; each dict holds ``id`` and
        any of the outcome columns (the others are null). Each outcome names the job, the CDR's contract and partition."""
        rows = []
        for outcome in outcomes:
            row = dict.fromkeys(_OUTCOME_COLUMNS) | {key: value for key, value in outcome.items() if key != "id"}
            rows.append(row | self._read.pop(outcome["id"]))
        insert_many(self._connection, cdr_outcomes, rows)

    def set_outcome_frame(self, outcomes: pl.DataFrame) -> None:
        """:meth:`set_outcomes` for a frame of ``id`` and outcome columns, of CDRs read as columns in this transaction
        (one statement; on PostgreSQL a ``COPY``)."""
        read = pl.concat(self._read_columns) if self._read_columns else pl.DataFrame(schema=_READ_SCHEMA)
        self._read_columns.clear()
        rows = outcomes.join(read, on="id", how="left").drop("id")
        insert_frame(self._connection, cdr_outcomes, rows)

    def skip_pending_of_contract(
        self, job_id: str, key: str, contract_id: str | None, *, chunk_id: str, failed: dict[str, Any] | None = None
    ) -> int:
        """Mark ``skipped``, in the chunk ``chunk_id``, the still pending CDRs of one contract (None: no access) in a
        partition, but the CDR of ``failed`` (an outcome with its ``id``), which gets that outcome; how many."""
        rows = self.pending_of_partition(
            job_id, key, contract_first=True, limit=_ALL, contract_id=contract_id, only_without_contract=contract_id is None
        )
        outcomes = {row["id"]: {"id": row["id"], "status": "skipped"} for row in rows}
        if failed is not None and failed["id"] in outcomes:
            outcomes[failed["id"]] = failed
        self.set_outcomes([outcome | {"chunk_id": chunk_id} for outcome in outcomes.values()])
        return len(rows)

    def release_pending(self, job_id: str) -> int:
        """Give back the pending CDRs the job holds: no job, so a later job can take them (the floor of the free CDRs
        lowered to the first of them); how many."""
        where = (cdrs.c.job_id == job_id, *_HELD)
        first = self._connection.execute(sa.select(sa.func.min(cdrs.c.seq)).where(*where)).scalar_one_or_none()
        if first is None:
            return 0
        # Without a row the floor is the first CDR already: nothing to lower.
        lowered = sa.case((cdr_free_floor.c.seq > int(first), int(first)), else_=cdr_free_floor.c.seq)
        self._connection.execute(sa.update(cdr_free_floor).where(cdr_free_floor.c.id == 1).values(seq=lowered))
        query = sa.update(cdrs).where(*where).values(job_id=None, contract_id=None, partition_key=None)
        return int(self._connection.execute(query).rowcount)

    def job_counts(self, job_id: str) -> dict[str, int]:
        """How many CDRs of the job have each status: its outcomes, and the CDRs it holds still pending (not the free
        CDRs its scope covers, see :mod:`kopek.store.job_scope`)."""
        query = sa.select(cdr_outcomes.c.status, sa.func.count()).where(cdr_outcomes.c.job_id == job_id).group_by(cdr_outcomes.c.status)
        counts = {str(status): int(count) for status, count in self._connection.execute(query)}
        held = sa.select(sa.func.count()).select_from(cdrs).where(cdrs.c.job_id == job_id, *_HELD)
        pending = int(self._connection.execute(held).scalar_one())
        return counts | ({"pending": pending} if pending else {})

    def job_errors(self, job_id: str) -> list[tuple[str, str | None, str, int]]:
        """``(category, reason, code, count)`` of the failed CDRs of a job."""
        outcome = cdr_outcomes.c
        columns = (outcome.error_category, outcome.error_reason, outcome.error_code)
        query = sa.select(*columns, sa.func.count()).where(outcome.job_id == job_id, outcome.status == "failed").group_by(*columns)
        return [(str(row[0]), row[1], str(row[2]), int(row[3])) for row in self._connection.execute(query)]


def _columns_read(connection: sa.Connection, held: sa.Subquery) -> list[sa.ColumnElement[Any]]:
    """``_TO_CHARGE`` of ``held`` as read into columns, the consumption date as :func:`instant_read` reads it."""
    return [
        instant_read(connection, held.c[column.name]) if column.name == "consumption_date" else held.c[column.name] for column in _TO_CHARGE
    ]


def _first_partition_key(contract: sa.ScalarSelect[str]) -> sa.ColumnElement[str]:
    """``contract/ID``, or ``access/SERVICE/USER`` for a CDR whose access is not found."""
    return sa.func.coalesce(sa.literal("contract/") + contract, sa.literal("access/") + cdrs.c.service_id + "/" + cdrs.c.user_id)


_ALL = 2**62
"""A limit no partition reaches."""


@dataclass(frozen=True, slots=True)
class FreeGroup:
    """Free CDRs a starting job takes: of ``contract_id``, or, without a contract (no access), of ``service_id`` and
    ``user_id``; ``cdrs`` of them."""

    contract_id: str | None
    service_id: str | None
    user_id: str | None
    cdrs: int


def _free_of_partitions(scopes: Scopes, keys: Sequence[str], *, sqlite: bool) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The free CDRs a job's scope covers in partitions ``keys``, found from each partition's contracts through their
    accesses (index ``ix_cdrs_free_by_access``), and from its service ids and user ids without an access.

    A CDR with an outcome is left out by a look-up of ``cdr_outcomes`` per CDR found. On SQLite, whose planner has no
    statistics, the job is compared so that no index serves it (``FREE_UNINDEXED``): the CDRs are read through the
    partition's accesses (its ``ix_cdrs_free_by_access`` is not partial)."""
    free = FREE_UNINDEXED if sqlite else FREE
    member = rating_job_members.alias("member")
    access = accesses.alias("access")
    contract = contract_of_cdr()
    columns = (*_TO_CHARGE[:-1], member.c.contract_id, member.c.partition_key, cdrs.c.seq, sa.literal(1).label("free"))
    of_partitions = (member.c.job_id == scopes.own.job_id, member.c.partition_key.in_(list(keys)))
    by_access = selects_cdr(access)
    of_contracts = (
        sa.select(*columns)
        .select_from(member.join(access, access.c.contract_id == member.c.contract_id).join(cdrs, by_access))
        .where(*of_partitions, contract == member.c.contract_id, *free_for(scopes, contract, free=free))
    )
    without_access = sa.and_(cdrs.c.service_id == member.c.service_id, cdrs.c.user_id == member.c.user_id)
    of_no_access = (
        sa.select(*columns)
        .select_from(member.join(cdrs, without_access))
        .where(*of_partitions, member.c.contract_id.is_(None), contract.is_(None), *free_for(scopes, contract, free=free))
    )
    return of_contracts, of_no_access


@dataclass(frozen=True, slots=True)
class ChargingPlace:
    """A CDR's place in consumption order: its consumption date, then its id."""

    consumption_date: datetime
    cdr_id: str


def _after_place(held: sa.Subquery, place: ChargingPlace, dialect: sa.Dialect) -> tuple[sa.ColumnElement[bool], ...]:
    """The CDRs after ``place`` in consumption order; the first condition alone is what an index on the consumption
    date bounds its scan with."""
    # select_frame hands its parameters to the driver as they are: the instant goes as the column keeps it.
    stored = binder(cdrs.c.consumption_date, dialect)
    instant = sa.literal(stored(place.consumption_date) if stored else place.consumption_date, sa.types.NullType())
    at = held.c.consumption_date
    return at >= instant, sa.or_(at > instant, sa.and_(at == instant, held.c.id > place.cdr_id))


def _charging_order(held: sa.Subquery, contract_first: bool) -> tuple[sa.ColumnElement[Any], ...]:
    """The order in which a partition's CDRs are charged: by consumption date, or contract by contract."""
    if contract_first:
        return (held.c.contract_id, held.c.consumption_date, held.c.id)
    return (held.c.consumption_date, held.c.id)

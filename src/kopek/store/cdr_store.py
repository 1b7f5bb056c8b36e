"""Stored CDRs (call detail records) waiting for, or done with, batch rating."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa

from kopek.store.bulk import select_frame, update_many
from kopek.store.schema import accesses, cdrs

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
_AGAIN = {
    "status": "pending",
    "operation_id": None,
    "error_category": None,
    "error_reason": None,
    "error_code": None,
    "error_message": None,
}
"""A failed or skipped CDR given to a job again: pending, its last outcome cleared."""
_OUTCOME_COLUMNS = ("status", "operation_id", "error_category", "error_reason", "error_code", "error_message")


class CdrStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` already stored."""
        if not ids:
            return set()
        return set(self._connection.execute(sa.select(cdrs.c.id).where(cdrs.c.id.in_(list(ids)))).scalars())

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._connection.execute(sa.insert(cdrs), list(rows))

    def cdr(self, cdr_id: str) -> dict[str, Any] | None:
        row = self._connection.execute(sa.select(cdrs).where(cdrs.c.id == cdr_id)).mappings().first()
        return dict(row) if row is not None else None

    def count_by_status(self) -> dict[str, int]:
        query = sa.select(cdrs.c.status, sa.func.count()).group_by(cdrs.c.status)
        return {str(status): int(count) for status, count in self._connection.execute(query)}

    def claim_for_job(self, job_id: str, conditions: Sequence[sa.ColumnElement[bool]], *, contract_ids: Sequence[str] | None = None) -> int:
        """Give the pending CDRs that no job holds and that meet ``conditions`` (and select one of ``contract_ids``) to ``job_id``.

        Each CDR gets the contract its access selects at its consumption date and a first
        partition key: ``contract/ID``, or ``access/SERVICE/USER`` when no access is found.
        Returns how many CDRs the job took.
        """
        contract = contract_of_cdr()
        where = [cdrs.c.status == "pending", cdrs.c.job_id.is_(None), *conditions]
        if contract_ids is not None:
            where.append(contract.in_(list(contract_ids)))
        query = sa.update(cdrs).where(*where).values(job_id=job_id, contract_id=contract, partition_key=_first_partition_key(contract))
        return int(self._connection.execute(query).rowcount)

    def claim_retries_for_job(
        self,
        job_id: str,
        conditions: Sequence[sa.ColumnElement[bool]],
        ended_jobs: sa.Select[tuple[str]],
        *,
        contract_ids: Sequence[str] | None = None,
        temporary_only: bool,
    ) -> int:
        """Give ``job_id`` the failed and skipped CDRs of ``ended_jobs`` that meet ``conditions``, pending again, their
        errors cleared (contract and first partition key as :meth:`claim_for_job`); how many.

        ``temporary_only``: only the CDRs that failed for a temporary reason and the CDRs of the same contract that
        their job skipped (a first-fail mode after that failure, or a failed ``SUBSCRIPTION_TRY`` contract); else
        every failed and skipped CDR.
        """
        contract = contract_of_cdr()
        where = [cdrs.c.job_id.in_(ended_jobs.scalar_subquery()), *conditions]
        if contract_ids is not None:
            where.append(contract.in_(list(contract_ids)))
        values = {"job_id": job_id, "contract_id": contract, "partition_key": _first_partition_key(contract), **_AGAIN}
        if not temporary_only:
            query = sa.update(cdrs).where(cdrs.c.status.in_(["failed", "skipped"]), *where).values(**values)
            return int(self._connection.execute(query).rowcount)
        # The skipped ones first: their condition reads the failures, which the second statement changes.
        earlier = cdrs.alias("earlier")
        stopped_by_temporary = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.job_id == cdrs.c.job_id,
                earlier.c.contract_id == cdrs.c.contract_id,
                earlier.c.status == "failed",
                earlier.c.error_category == TEMPORARY,
            )
            .exists()
        )
        skipped = sa.update(cdrs).where(cdrs.c.status == "skipped", stopped_by_temporary, *where).values(**values)
        failed = sa.update(cdrs).where(cdrs.c.status == "failed", cdrs.c.error_category == TEMPORARY, *where).values(**values)
        return int(self._connection.execute(skipped).rowcount) + int(self._connection.execute(failed).rowcount)

    def assign_unpartitioned(self, job_id: str) -> int:
        """Resolve the contract and first partition key of a job's pending CDRs that have none (a job started before partitions)."""
        contract = contract_of_cdr()
        where = (cdrs.c.job_id == job_id, cdrs.c.status == "pending", cdrs.c.partition_key.is_(None))
        query = sa.update(cdrs).where(*where).values(contract_id=contract, partition_key=_first_partition_key(contract))
        return int(self._connection.execute(query).rowcount)

    def job_contracts(self, job_id: str) -> sa.Select[tuple[str]]:
        """A query of the distinct contracts of a job's CDRs (for use as a subquery)."""
        return sa.select(cdrs.c.contract_id).where(cdrs.c.job_id == job_id, cdrs.c.contract_id.is_not(None)).distinct()

    def move_to_partition(self, job_id: str, keys: dict[str, str]) -> None:
        """Put the job's CDRs of each contract (a key of ``keys``) in the partition it maps to."""
        if not keys:
            return
        query = (
            sa.update(cdrs)
            .where(cdrs.c.job_id == job_id, cdrs.c.contract_id == sa.bindparam("contract"))
            .values(partition_key=sa.bindparam("key"))
        )
        self._connection.execute(query, [{"contract": contract, "key": key} for contract, key in keys.items()])

    def partition_sizes(self, job_id: str) -> list[tuple[str, int]]:
        """The partitions of the job's pending CDRs and how many each holds."""
        where = (cdrs.c.job_id == job_id, cdrs.c.status == "pending", cdrs.c.partition_key.is_not(None))
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
        """The next ``limit`` pending CDRs of a partition: by consumption date, or contract by contract when ``contract_first``."""
        query = _pending(job_id, [key], contract_first=contract_first, contract_id=contract_id, only_without_contract=only_without_contract)
        return self._to_charge(query.limit(limit))

    def _to_charge(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        result = self._connection.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]

    def pending_columns(self, job_id: str, keys: Sequence[str], *, contract_first: bool, limit: int) -> pl.DataFrame:
        """The next ``limit`` pending CDRs of the partitions ``keys`` as columns (``TO_CHARGE_COLUMNS``,
        ``consumption_date`` an instant in UTC): partition by partition, each in the order of
        :meth:`pending_of_partition`, which reads the same CDRs of one partition as rows.

        PostgreSQL writes them with ``COPY ... TO STDOUT`` as CSV, which Polars reads; SQLite's rows are fetched as the
        driver's tuples straight into Polars. No Python object is made per CDR but the driver's own."""
        by_partition = len(keys) > 1
        query = _pending(job_id, keys, contract_first=contract_first, by_partition=by_partition, columns=_columns_read(self._connection))
        return select_frame(self._connection, query.limit(limit), TO_CHARGE_COLUMNS).with_columns(
            _instant(self._connection, pl.col("consumption_date"))
        )

    def pending_contracts_of_partition(self, job_id: str, key: str) -> list[str | None]:
        """The contracts (None: no access) that still have pending CDRs in a partition, in order."""
        where = (cdrs.c.job_id == job_id, cdrs.c.partition_key == key, cdrs.c.status == "pending")
        query = sa.select(cdrs.c.contract_id).where(*where).distinct().order_by(cdrs.c.contract_id)
        return list(self._connection.execute(query).scalars())

    def stopped_contracts(self, job_id: str, key: str | Sequence[str]) -> set[str | None]:
        """Contracts (None: no access) of a partition (or of several) with a CDR already ``failed`` or ``skipped`` in this job."""
        keys = [key] if isinstance(key, str) else list(key)
        where = (cdrs.c.job_id == job_id, cdrs.c.partition_key.in_(keys), cdrs.c.status.in_(["failed", "skipped"]))
        return set(self._connection.execute(sa.select(cdrs.c.contract_id).where(*where).distinct()).scalars())

    def set_outcomes(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Write many CDRs' outcomes in one statement; each dict holds ``id`` and any of the outcome columns."""
        update_many(self._connection, cdrs, "id", outcomes, _OUTCOME_COLUMNS)

    def skip_pending_of_contract(self, job_id: str, key: str, contract_id: str | None) -> int:
        """Mark ``skipped`` the still pending CDRs of one contract (None: no access) in a partition; how many."""
        where = [cdrs.c.job_id == job_id, cdrs.c.partition_key == key, cdrs.c.status == "pending"]
        where.append(cdrs.c.contract_id.is_(None) if contract_id is None else cdrs.c.contract_id == contract_id)
        return int(self._connection.execute(sa.update(cdrs).where(*where).values(status="skipped")).rowcount)

    def release_pending(self, job_id: str) -> int:
        """Give the job's still pending CDRs back: no job, so a later job can take them; how many."""
        query = (
            sa.update(cdrs)
            .where(cdrs.c.job_id == job_id, cdrs.c.status == "pending")
            .values(job_id=None, contract_id=None, partition_key=None)
        )
        return int(self._connection.execute(query).rowcount)

    def job_counts(self, job_id: str) -> dict[str, int]:
        query = sa.select(cdrs.c.status, sa.func.count()).where(cdrs.c.job_id == job_id).group_by(cdrs.c.status)
        return {str(status): int(count) for status, count in self._connection.execute(query)}

    def job_errors(self, job_id: str) -> list[tuple[str, str | None, str, int]]:
        """``(category, reason, code, count)`` of the failed CDRs of a job."""
        columns = (cdrs.c.error_category, cdrs.c.error_reason, cdrs.c.error_code)
        query = sa.select(*columns, sa.func.count()).where(cdrs.c.job_id == job_id, cdrs.c.status == "failed").group_by(*columns)
        return [(str(row[0]), row[1], str(row[2]), int(row[3])) for row in self._connection.execute(query)]


def _pending(
    job_id: str,
    keys: Sequence[str],
    *,
    contract_first: bool,
    by_partition: bool = False,
    contract_id: str | None = None,
    only_without_contract: bool = False,
    columns: Sequence[sa.ColumnElement[Any]] = _TO_CHARGE,
) -> sa.Select[Any]:
    """The one query of which pending CDRs a chunk charges, in which order: those of the job's partitions ``keys``
    (only those of ``contract_id``, or only those without a contract); by consumption date, or contract by contract
    when ``contract_first``; partition by partition first when ``by_partition``."""
    where = [cdrs.c.job_id == job_id, cdrs.c.status == "pending"]
    where.append(cdrs.c.partition_key == keys[0] if len(keys) == 1 else cdrs.c.partition_key.in_(list(keys)))
    if contract_id is not None:
        where.append(cdrs.c.contract_id == contract_id)
    elif only_without_contract:
        where.append(cdrs.c.contract_id.is_(None))
    within = (cdrs.c.contract_id, cdrs.c.consumption_date, cdrs.c.id) if contract_first else (cdrs.c.consumption_date, cdrs.c.id)
    order = (cdrs.c.partition_key, *within) if by_partition else within
    return sa.select(*columns).where(*where).order_by(*order)


def _columns_read(connection: sa.Connection) -> list[sa.ColumnElement[Any]]:
    """``_TO_CHARGE`` as read into columns: the consumption date as microseconds since the epoch on PostgreSQL (exact),
    as its stored text on SQLite."""
    if connection.dialect.name != "postgresql":
        return list(_TO_CHARGE)
    micros = sa.cast(sa.extract("epoch", cdrs.c.consumption_date) * 1_000_000, sa.BigInteger).label("consumption_date")
    return [micros if column.name == "consumption_date" else column for column in _TO_CHARGE]


def _instant(connection: sa.Connection, column: pl.Expr) -> pl.Expr:
    """The consumption date column read by :func:`_columns_read` as an instant in UTC."""
    if connection.dialect.name == "postgresql":
        return column.cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
    # UtcDateTime writes SQLite instants with six fraction digits, without offset, in UTC.
    return column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.6f", time_unit="us", time_zone="UTC")


def _first_partition_key(contract: sa.ScalarSelect[str]) -> sa.ColumnElement[str]:
    """``contract/ID``, or ``access/SERVICE/USER`` for a CDR whose access is not found."""
    return sa.func.coalesce(sa.literal("contract/") + contract, sa.literal("access/") + cdrs.c.service_id + "/" + cdrs.c.user_id)


def contract_of_cdr() -> sa.ScalarSelect[str]:
    """The contract of the access that a CDR's service id and user id select at its consumption date (as find_access)."""
    return (
        sa.select(accesses.c.contract_id)
        .where(
            accesses.c.service_id == cdrs.c.service_id,
            accesses.c.user_id == cdrs.c.user_id,
            accesses.c.valid_from <= cdrs.c.consumption_date,
            sa.or_(accesses.c.valid_to.is_(None), accesses.c.valid_to > cdrs.c.consumption_date),
        )
        .limit(1)
        .scalar_subquery()
    )

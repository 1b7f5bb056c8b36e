"""Item files: the index of written files, and which charged and chargeable items each one holds.

An item is claimed for a file by setting its file column (``billable_file_id``,
``consumption_file_id`` on ``charged_items``; ``file_name`` on ``exported_items``)
in the transaction that records the file. A claimed item is never claimed again,
so no item lands in two files of one kind. On PostgreSQL the claim skips rows
another export has locked (``FOR UPDATE SKIP LOCKED``); on SQLite writers are
serialized by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa

from kopek.money import to_text
from kopek.store.bulk import instant_column, instant_read, select_frame
from kopek.store.schema import (
    BILLABLE_PENDING,
    CONSUMPTION_PENDING,
    charged_items,
    contracts,
    exported_items,
    item_files,
)

_CHARGED_ITEM_NAMES = ("contract_id", "contract_item_id", "item_class", "charge_plan", "charge", "account_role", "account_id")

CHARGED_ITEM_FRAME: Mapping[str, pl.DataType | type[pl.DataType]] = {
    "charged_item_id": pl.Int64,
    "operation_id": pl.String,
    "subscriber_account_id": pl.String,
    **dict.fromkeys(_CHARGED_ITEM_NAMES, pl.String),
    "amount": pl.String,
    "currency": pl.String,
    "quantity": pl.String,
    "quantity_unit": pl.String,
    "output": pl.String,
    "consumption_date": pl.Datetime("us", "UTC"),
    "recharge_id": pl.String,
    "reverses_charged_item_id": pl.Int64,
}
"""The columns of a page of :meth:`ItemFileStore.charged_items_of_file`, named and ordered as in the files."""

WRITING = "writing"
COMPLETE = "complete"


class ItemFileStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    # ---- the index of files -----------------------------------------------------------------

    def insert_file(self, *, kind: str, file_format: str, file_name: str, at: datetime) -> int:
        """Record a file before any item is claimed for it; its counts are set by :meth:`set_extent`."""
        values = {"kind": kind, "format": file_format, "file_name": file_name, "state": WRITING, "row_count": 0}
        result = self._connection.execute(sa.insert(item_files).values(**values, first_id=0, last_id=0, created_at=at))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def set_file_name(self, file_id: int, file_name: str) -> None:
        self._connection.execute(sa.update(item_files).where(item_files.c.id == file_id).values(file_name=file_name))

    def set_extent(self, file_id: int, *, row_count: int, first_id: int, last_id: int) -> None:
        query = sa.update(item_files).where(item_files.c.id == file_id)
        self._connection.execute(query.values(row_count=row_count, first_id=first_id, last_id=last_id))

    def file(self, file_id: int) -> dict[str, Any] | None:
        row = self._connection.execute(sa.select(item_files).where(item_files.c.id == file_id)).mappings().first()
        return _file_record(row) if row is not None else None

    def files(self, *, kind: str | None, after_id: int, limit: int) -> list[dict[str, Any]]:
        query = sa.select(item_files).where(item_files.c.id > after_id).order_by(item_files.c.id).limit(limit)
        if kind is not None:
            query = query.where(item_files.c.kind == kind)
        return [_file_record(row) for row in self._connection.execute(query).mappings()]

    def unfinished_file_ids(self, kind: str) -> list[int]:
        query = sa.select(item_files.c.id).where(item_files.c.kind == kind, item_files.c.state == WRITING).order_by(item_files.c.id)
        return list(self._connection.execute(query).scalars())

    def take_unfinished(self, file_id: int) -> dict[str, Any] | None:
        """The file if it still waits to be written; on PostgreSQL also locked for this transaction,
        and None while another export holds it (that export is writing it now)."""
        query = sa.select(item_files).where(item_files.c.id == file_id, item_files.c.state == WRITING)
        row = self._connection.execute(query.with_for_update(skip_locked=True)).mappings().first()
        return _file_record(row) if row is not None else None

    def complete(self, file_id: int, *, sha256: str, amount_totals: dict[str, Decimal] | None, at: datetime) -> None:
        totals = json.dumps({currency: to_text(total) for currency, total in amount_totals.items()}) if amount_totals is not None else None
        query = sa.update(item_files).where(item_files.c.id == file_id, item_files.c.state == WRITING)
        self._connection.execute(query.values(state=COMPLETE, sha256=sha256, amount_totals=totals, completed_at=at))

    def delete_file(self, file_id: int) -> None:
        self._connection.execute(sa.delete(item_files).where(item_files.c.id == file_id))

    # ---- claiming items ---------------------------------------------------------------------------

    def highest_item_id(self, kind: str) -> int:
        table = exported_items if kind == "chargeable" else charged_items
        return int(self._connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one())

    def claim_charged_items(self, kind: str, file_id: int, *, up_to_id: int, limit: int) -> tuple[int, int, int]:
        """Put up to ``limit`` unfiled charged items of ``kind`` (ids up to ``up_to_id``, lowest first) into the file;
        returns (count, first id, last id)."""
        column = charged_items.c.billable_file_id if kind == "billable" else charged_items.c.consumption_file_id
        # The pending condition is the partial index's own, so the database walks only the backlog.
        pending = sa.text(BILLABLE_PENDING if kind == "billable" else CONSUMPTION_PENDING)
        chosen = (
            sa.select(charged_items.c.id)
            .where(pending, charged_items.c.id <= up_to_id)
            .order_by(charged_items.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self._claim(chosen, charged_items, {column: file_id})

    def claim_chargeable_items(self, file_id: int, file_name: str, *, up_to_id: int, limit: int) -> tuple[int, int, int]:
        """Put up to ``limit`` unexported chargeable items into the file; returns (count, first id, last id)."""
        chosen = (
            sa.select(exported_items.c.id)
            .where(exported_items.c.file_name.is_(None), exported_items.c.id <= up_to_id)
            .order_by(exported_items.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self._claim(chosen, exported_items, {exported_items.c.file_name: file_name})

    def _claim(self, chosen: sa.Select[tuple[int]], table: sa.Table, values: dict[sa.Column[Any], Any]) -> tuple[int, int, int]:
        """Mark the ``chosen`` rows of ``table`` with ``values``; returns (count, first id, last id)."""
        if self._connection.dialect.name == "postgresql":
            # One statement: the rows it marks are exactly the ones it counts, whatever other exports lock. The rows are
            # chosen once, in a CTE of their own (one with row locks is never folded into the query): as a subquery of
            # ``id IN (...)`` the planner may scan the choice again, and with SKIP LOCKED a scan again can pick other
            # rows, so one file would take more than its limit.
            picked = chosen.cte("picked")
            update = sa.update(table).where(table.c.id == picked.c.id).values(values)
            claimed = update.returning(table.c.id).cte("claimed")
            query = sa.select(sa.func.count(), sa.func.min(claimed.c.id), sa.func.max(claimed.c.id))
            count, first, last = self._connection.execute(query).one()
        else:
            # SQLite: this transaction holds the database's write lock, so the chosen rows cannot change in between.
            rows = chosen.subquery()
            query = sa.select(sa.func.count(), sa.func.min(rows.c.id), sa.func.max(rows.c.id))
            count, first, last = self._connection.execute(query).one()
            self._connection.execute(sa.update(table).where(table.c.id.in_(chosen.scalar_subquery())).values(values))
        return int(count), int(first or 0), int(last or 0)

    # ---- reading a file's items -----------------------------------------------------------------

    def charged_items_of_file(self, kind: str, file: dict[str, Any], *, after_id: int, limit: int) -> pl.DataFrame:
        """One page of the charged items in the file, in id order, as a frame of the file's columns
        (:data:`CHARGED_ITEM_FRAME`): amounts and quantities as their exact stored text, the consumption date as an
        instant in UTC, with the subscriber account of each item's contract.

        The page is chosen first, its ids bounded by the file's id range (the file columns have no index of their
        own), and only its rows are joined to their contracts: joined before the limit, a planner may join every
        row of the file for each page."""
        column = charged_items.c.billable_file_id if kind == "billable" else charged_items.c.consumption_file_id
        page = (
            sa.select(charged_items)
            .where(
                column == file["id"],
                charged_items.c.id > max(after_id, file["first_id"] - 1),
                charged_items.c.id <= file["last_id"],
            )
            .order_by(charged_items.c.id)
            .limit(limit)
            .subquery("page")
        )
        # PostgreSQL's text of a numeric is the stored decimal with its scale, never an exponent, as to_text writes
        # it; SQLite keeps that text itself.
        as_text = (lambda value: sa.cast(value, sa.Text)) if self._connection.dialect.name == "postgresql" else (lambda value: value)
        query = (
            sa.select(
                page.c.id,
                page.c.operation_id,
                contracts.c.subscriber_account_id,
                *(page.c[name] for name in _CHARGED_ITEM_NAMES),
                as_text(page.c.amount),
                page.c.currency,
                as_text(page.c.quantity),
                page.c.quantity_unit,
                page.c.output,
                instant_read(self._connection, page.c.consumption_date),
                page.c.recharge_id,
                page.c.reverses_id,
            )
            # The contract's subscriber account, as the charge's: a contract never changes subscriber account, and a
            # CDR's charge has no operation row to name it.
            .join(contracts, contracts.c.id == page.c.contract_id)
            .order_by(page.c.id)
        )
        schema = dict(CHARGED_ITEM_FRAME)
        schema["consumption_date"] = pl.Int64 if self._connection.dialect.name == "postgresql" else pl.String
        frame = select_frame(self._connection, query, schema)
        return frame.with_columns(instant_column(self._connection, pl.col("consumption_date")))

    def chargeable_items_of_file(self, file_name: str, *, after_id: int, limit: int) -> list[dict[str, Any]]:
        query = (
            sa.select(exported_items)
            .where(exported_items.c.file_name == file_name, exported_items.c.id > after_id)
            .order_by(exported_items.c.id)
            .limit(limit)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]


def pages(read: Callable[..., list[dict[str, Any]]], *, limit: int) -> Iterator[list[dict[str, Any]]]:
    """Call ``read(after_id=..., limit=...)`` page after page until a page comes back short."""
    after_id = 0
    while True:
        page = read(after_id=after_id, limit=limit)
        if page:
            yield page
            after_id = int(page[-1]["id"])
        if len(page) < limit:
            return


def _file_record(row: Any) -> dict[str, Any]:
    record = dict(row)
    totals = record.get("amount_totals")
    record["amount_totals"] = {currency: Decimal(total) for currency, total in json.loads(totals).items()} if totals else None
    return record

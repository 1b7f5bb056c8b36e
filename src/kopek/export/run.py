"""One export run: put every item not yet in a file of its kind into new files, exactly once.

Each file goes through three steps, each durable before the next begins:

1. **claim** (one transaction): record the file in ``item_files`` (state ``writing``)
   and mark up to ``rows_per_file`` unfiled items, lowest id first, as its rows;
2. **write**: read the file's rows back and write the data file, then its manifest,
   each under a temporary name, flushed and renamed into place;
3. **complete** (one transaction): store the checksum and mark the file ``complete``.

An item is marked in step 1 and never unmarked, so it lands in exactly one file of
each kind it belongs to. A crash after step 1 leaves a ``writing`` file whose rows
are known; the next run writes it again from those rows (the same bytes) before
claiming new ones, so no item is lost. On PostgreSQL the claim skips rows another
export holds (``FOR UPDATE SKIP LOCKED``) and step 2 holds a lock on the file's row,
so two exports never claim one item nor write one file together.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import sqlalchemy as sa

from kopek import limits
from kopek.clock import Clock
from kopek.errors import Code, IllegalSystemStateError, InvalidError
from kopek.export.files import remove_stray_temporaries, write_data_file, write_manifest
from kopek.export.layout import (
    ItemFileFormat,
    ItemFileKind,
    chargeable_item_row,
    columns_of,
    file_name,
    manifest_name,
)
from kopek.export.views import ExportReport, ItemFileView, item_file_view
from kopek.money import ZERO
from kopek.store.item_file_store import pages
from kopek.store.uow import UnitOfWork

READ_PAGE_ROWS = 10_000
"""Rows read from the database at a time while writing a file; each page is one Parquet row group."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Where and how to write: the export directory, the kinds to export, the format and the rotation size."""

    directory: Path
    kinds: tuple[ItemFileKind, ...] = tuple(ItemFileKind)
    file_format: ItemFileFormat = ItemFileFormat.PARQUET
    rows_per_file: int = limits.ITEM_FILE_ROWS_DEFAULT


FileWritten = Callable[[ItemFileView], None]
"""Told of each file once it is complete (a progress display)."""


def export_item_files(database: sa.Engine, request: ExportRequest, *, clock: Clock, progress: FileWritten | None = None) -> ExportReport:
    """Finish the files an interrupted run left ``writing``, then write every unfiled item into new files."""
    if not 1 <= request.rows_per_file <= limits.ITEM_FILE_ROWS_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED, message=f"an item file holds 1 to {limits.ITEM_FILE_ROWS_MAX} rows, not {request.rows_per_file}"
        )
    written: list[ItemFileView] = []
    try:
        for kind in request.kinds:
            for view in _export_kind(database, kind, request, clock=clock):
                written.append(view)
                if progress is not None:
                    progress(view)
    except OSError as error:
        raise IllegalSystemStateError(
            code=Code.ITEM_FILE_NOT_WRITTEN, message=f"{error.filename or request.directory}: {error.strerror or error}"
        ) from error
    return ExportReport(files=written, files_written=len(written), rows_written=sum(view.row_count for view in written))


def _export_kind(database: sa.Engine, kind: ItemFileKind, request: ExportRequest, *, clock: Clock) -> Iterator[ItemFileView]:
    """The files of one kind: first those an interrupted run left ``writing``, then new ones until no item waits."""
    folder = request.directory / kind.value
    folder.mkdir(parents=True, exist_ok=True)
    with UnitOfWork(database, writes=False) as uow:
        unfinished = uow.item_files.unfinished_file_ids(kind.value)
        # Items charged from now on wait for the next run, so a busy system cannot keep one run going forever.
        up_to_id = uow.item_files.highest_item_id(kind.value)
    claimed = iter(lambda: claim_file(database, kind, request, up_to_id=up_to_id, clock=clock), None)
    for file_id in itertools.chain(unfinished, claimed):
        view = write_file(database, file_id, folder, clock=clock)
        # None: another export is writing that file (PostgreSQL) or has just completed it.
        if view is not None:
            yield view


def claim_file(database: sa.Engine, kind: ItemFileKind, request: ExportRequest, *, up_to_id: int, clock: Clock) -> int | None:
    """Step 1: record a new file and claim its rows; None (and nothing recorded) when no item waits."""
    with UnitOfWork(database) as uow:
        store = uow.item_files
        # The name holds the id, which the insert gives: a unique placeholder first.
        file_id = store.insert_file(kind=kind.value, file_format=request.file_format.value, file_name=f".{uuid.uuid4().hex}", at=clock())
        name = file_name(kind, file_id, request.file_format)
        store.set_file_name(file_id, name)
        if kind is ItemFileKind.CHARGEABLE:
            count, first_id, last_id = store.claim_chargeable_items(file_id, name, up_to_id=up_to_id, limit=request.rows_per_file)
        else:
            count, first_id, last_id = store.claim_charged_items(kind.value, file_id, up_to_id=up_to_id, limit=request.rows_per_file)
        if count == 0:
            return None
        store.set_extent(file_id, row_count=count, first_id=first_id, last_id=last_id)
        uow.commit()
    return file_id


def write_file(database: sa.Engine, file_id: int, folder: Path, *, clock: Clock) -> ItemFileView | None:
    """Steps 2 and 3 for a ``writing`` file; None when it is complete already or another export is writing it."""
    with UnitOfWork(database, writes=False) as uow:
        record = uow.item_files.take_unfinished(file_id)
        if record is None:
            return None
        totals = _write(uow, record, folder)
        if uow.dialect == "postgresql":
            # Complete while still holding the file's row lock, so no other export takes it in between.
            uow.item_files.complete(file_id, sha256=totals.sha256, amount_totals=totals.amounts, at=clock())
            uow.commit()
            return _view(database, file_id)
    # SQLite: the read transaction ends first (it could not turn into a writing one).
    with UnitOfWork(database) as uow:
        uow.item_files.complete(file_id, sha256=totals.sha256, amount_totals=totals.amounts, at=clock())
        uow.commit()
    return _view(database, file_id)


@dataclass(frozen=True, slots=True)
class _Written:
    sha256: str
    amounts: dict[str, Decimal] | None


def _write(uow: UnitOfWork, record: dict[str, Any], folder: Path) -> _Written:
    """Step 2: the data file, then its manifest; returns the file's checksum and amount totals."""
    kind, file_format = ItemFileKind(record["kind"]), ItemFileFormat(record["format"])
    path, manifest_path = folder / record["file_name"], folder / manifest_name(record["file_name"])
    remove_stray_temporaries(path)
    remove_stray_temporaries(manifest_path)
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counted = [0]
    rows = _rows(uow, kind, record, amounts, counted)
    sha256 = write_data_file(path, columns_of(kind), rows, file_format)
    # The rows claimed for a file never change, so what was written is what was claimed.
    assert counted[0] == record["row_count"], f"file {record['id']} claimed {record['row_count']} rows, wrote {counted[0]}"
    totals = None if kind is ItemFileKind.CHARGEABLE else dict(sorted(amounts.items()))
    write_manifest(manifest_path, manifest(record, sha256=sha256, amount_totals=totals))
    return _Written(sha256, totals)


def _rows(
    uow: UnitOfWork, kind: ItemFileKind, record: dict[str, Any], amounts: dict[str, Decimal], counted: list[int]
) -> Iterator[pa.Table]:
    """The file's rows page by page (tables of the file's columns), in id order, counting them and adding up the
    amounts per currency on the way."""
    store = uow.item_files
    columns = columns_of(kind)
    if kind is ItemFileKind.CHARGEABLE:
        for page in pages(lambda **window: store.chargeable_items_of_file(record["file_name"], **window), limit=READ_PAGE_ROWS):
            counted[0] += len(page)
            yield pa.Table.from_pylist([chargeable_item_row(item) for item in page], schema=columns)
        return
    after_id = 0
    while True:
        frame = store.charged_items_of_file(kind.value, record, after_id=after_id, limit=READ_PAGE_ROWS)
        if frame.is_empty():
            return
        counted[0] += frame.height
        for currency, amount in zip(frame.get_column("currency").to_list(), frame.get_column("amount").to_list(), strict=True):
            amounts[currency] += Decimal(amount)
        yield frame.to_arrow().cast(columns)
        if frame.height < READ_PAGE_ROWS:
            return
        after_id = frame.get_column("charged_item_id").item(-1)


def manifest(record: dict[str, Any], *, sha256: str, amount_totals: dict[str, Decimal] | None) -> dict[str, Any]:
    """The manifest of a file: the same for every writing of it (it holds no time of writing)."""
    kind = ItemFileKind(record["kind"])
    created_at: datetime = record["created_at"]
    return {
        "file_id": record["id"],
        "kind": kind.value,
        "format": record["format"],
        "file_name": record["file_name"],
        "row_count": record["row_count"],
        "sha256": sha256,
        "first_id": record["first_id"],
        "last_id": record["last_id"],
        "created_at": created_at.isoformat(),
        "amount_totals": {currency: format(total, "f") for currency, total in amount_totals.items()} if amount_totals is not None else None,
        "columns": [{"name": field.name, "type": str(field.type), "nullable": field.nullable} for field in columns_of(kind)],
    }


def _view(database: sa.Engine, file_id: int) -> ItemFileView:
    with UnitOfWork(database, writes=False) as uow:
        record = uow.item_files.file(file_id)
    assert record is not None, "a written file stays in the index"
    return item_file_view(record)

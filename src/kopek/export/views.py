"""What the item-file export answers: a file's manifest, and the report of one export run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.domain.catalog import Dec
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.schema_examples import example_of


class ItemFileState(StrEnum):
    """``writing`` from the claim of its rows until the file and its manifest are in place; then ``complete``."""

    WRITING = "writing"
    COMPLETE = "complete"


class ItemFileView(BaseModel):
    """One item file as the index (and its manifest) describes it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "kind": "billable",
                    "format": "csv",
                    "file_name": "billable-0000000001.csv",
                    "path": "billable/billable-0000000001.csv",
                    "state": "complete",
                    "row_count": 5,
                    "first_id": 1,
                    "last_id": 5,
                    "sha256": "270bdcada0f41bbf10c076086d161278d28cdae0cc4f6023e4a622902f03b2e3",
                    "amount_totals": {"EUR": "4.80"},
                    "created_at": "2026-06-01T12:00:00Z",
                    "completed_at": "2026-06-01T12:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    id: int
    """The file's id."""
    kind: ItemFileKind
    """billable, consumption or chargeable."""
    format: ItemFileFormat
    """parquet or csv."""
    file_name: str = Field(description="The file's name inside the kind's folder of the export directory.")
    path: str = Field(description="The file's path relative to the export directory: ``<kind>/<file_name>``.")
    state: ItemFileState
    """writing (claimed, not complete yet) or complete."""
    row_count: int
    """How many items the file holds."""
    first_id: int = Field(description="The lowest item id in the file.")
    last_id: int = Field(description="The highest item id in the file; ids in between may be in other files.")
    sha256: str | None = Field(description="SHA-256 of the file's bytes in hex; None until the file is complete.")
    amount_totals: dict[str, Dec] | None = Field(
        description="Sum of ``amount`` per currency (billable and consumption files); None for chargeable files or until complete."
    )
    created_at: datetime
    """When its items were claimed."""
    completed_at: datetime | None
    """When it and its manifest were written; null while writing."""


class ExportReport(BaseModel):
    """What one export run wrote: the files it finished (left over by an interrupted run) and the new ones."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "files": [example_of(ItemFileView)],
                    "files_written": 1,
                    "rows_written": 5,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    files: list[ItemFileView]
    """The files written."""
    files_written: int
    """How many files were written."""
    rows_written: int
    """How many rows they hold together."""


def item_file_view(record: dict[str, Any]) -> ItemFileView:
    kind = ItemFileKind(record["kind"])
    return ItemFileView(
        id=record["id"],
        kind=kind,
        format=ItemFileFormat(record["format"]),
        file_name=record["file_name"],
        path=f"{kind.value}/{record['file_name']}",
        state=ItemFileState(record["state"]),
        row_count=record["row_count"],
        first_id=record["first_id"],
        last_id=record["last_id"],
        sha256=record["sha256"],
        amount_totals=record["amount_totals"],
        created_at=record["created_at"],
        completed_at=record["completed_at"],
    )

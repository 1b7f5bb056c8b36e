"""``/v1/item-files``: export billable, consumption and chargeable items to files, list the files, read a manifest.

The server writes into its own item-files folder (``kopek serve --item-files-dir``);
a request never names a path on the server. See docs/item-files.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import AfterIdQuery, Context, PageSizeQuery, RecordIdPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.export.views import ExportReport, ItemFileView
from kopek.schema_examples import example_of


class ItemFileExportRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "billable", "format": "csv", "rows_per_file": 100000}]},
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    kind: ItemFileKind | None = Field(default=None, description="Export only this kind; all three when absent.")
    format: ItemFileFormat = ItemFileFormat.PARQUET
    """parquet (the default) or csv."""
    rows_per_file: int = Field(
        default=limits.ITEM_FILE_ROWS_DEFAULT, description=f"Rotate to a new file after this many rows (1 to {limits.ITEM_FILE_ROWS_MAX})."
    )


class ItemFilesPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "files": [example_of(ItemFileView)],
                    "next_after_id": None,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    files: list[ItemFileView]
    """Oldest first."""
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


async def export_item_files(request: ItemFileExportRequest, context: Context, actor: Actor) -> ExportReport:
    """Write every item not yet in a file of its kind into new files (each with a manifest) in the server's
    item-files folder. Files an interrupted export left unfinished are written first. Exactly once: no item
    is left out or lands in two files of one kind, whatever crashes or runs at the same time."""
    kinds = (request.kind,) if request.kind is not None else None
    return await run_in_threadpool(
        context.engine.export_item_files,
        context.item_files_directory,
        kinds=kinds,
        file_format=request.format,
        rows_per_file=request.rows_per_file,
        actor=actor,
    )


def list_item_files(
    context: Context,
    kind: Annotated[ItemFileKind | None, Query(description="Only files of this kind.")] = None,
    limit: PageSizeQuery = 100,
    after_id: AfterIdQuery = 0,
) -> ItemFilesPage:
    """The index of item files, oldest first: kind, format, name, state, row count, checksum, id range."""
    files = context.engine.item_files(kind=kind, limit=limit, after_id=after_id)
    more = len(files) == limit and bool(context.engine.item_files(kind=kind, limit=1, after_id=files[-1].id))
    return ItemFilesPage(files=files, next_after_id=files[-1].id if more else None)


def read_item_file(file_id: RecordIdPath, context: Context) -> ItemFileView:
    """One item file's manifest: kind, format, name, state, row count, SHA-256, id range, amount totals."""
    return context.engine.item_file(file_id)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/item-files", tags=["item files"], route_class=ExactJsonRoute)
    routes.add_api_route(
        ":export",
        export_item_files,
        methods=["POST"],
        response_model=ExportReport,
        summary="Export items to item files",
        responses=error_responses(422, 500),
    )
    routes.add_api_route(
        "", list_item_files, methods=["GET"], response_model=ItemFilesPage, summary="List item files", responses=error_responses(422)
    )
    routes.add_api_route(
        "/{file_id}",
        read_item_file,
        methods=["GET"],
        response_model=ItemFileView,
        summary="Read an item file's manifest",
        responses=error_responses(404, 422),
    )
    return routes

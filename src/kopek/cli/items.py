"""``kopek items``: export billable, consumption and chargeable items to item files, list the files, show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from kopek import limits
from kopek.cli.options import AfterNumber, DatabaseUrl, Json, PageSize, actor, open_engine
from kopek.cli.output import Output, cell, emit_page, reporting, table
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.export.views import ExportReport, ItemFileView
from kopek.paging import page

app = typer.Typer(
    rich_markup_mode=None, help="Write charged and chargeable items to item files (Parquet or CSV) and list them.", no_args_is_help=True
)

KindOption = Annotated[
    ItemFileKind | None, typer.Option("--kind", help="Only this kind of item file (default: all kinds).", show_default=False)
]


@app.command("export")
def export(
    directory: Annotated[
        Path, typer.Option("--dir", help="The export directory; each kind gets its own folder in it.", file_okay=False, show_default=False)
    ],
    kind: KindOption = None,
    file_format: Annotated[ItemFileFormat, typer.Option("--format", help="The file format.")] = ItemFileFormat.PARQUET,
    rows_per_file: Annotated[
        int, typer.Option("--rows-per-file", help=f"Rotate to a new file after this many rows (at most {limits.ITEM_FILE_ROWS_MAX}).")
    ] = limits.ITEM_FILE_ROWS_DEFAULT,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Write every item not yet in a file of its kind into new files with manifests, exactly once (docs/item-files.md)."""
    output = Output(json_output)
    shown = Progress(SpinnerColumn(), TextColumn("{task.description}"), console=Output.console(stderr=True), transient=True)
    with reporting(output), open_engine(database_url) as engine, shown:
        task = shown.add_task("Exporting item files")

        def written(view: ItemFileView) -> None:
            shown.update(task, description=f"Exporting item files: {view.path} ({view.row_count} rows) written")

        report = engine.export_item_files(
            directory,
            kinds=(kind,) if kind is not None else None,
            file_format=file_format,
            rows_per_file=rows_per_file,
            progress=written,
            actor=actor(),
        )
    output.emit(report, lambda console: _render_report(console, report))


@app.command("list")
def list_files(
    kind: KindOption = None,
    limit: PageSize = 100,
    after_id: AfterNumber = 0,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List the item files, oldest first: kind, name, state, rows, id range, checksum."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        files, after = page(
            lambda cursor, size: engine.item_files(kind=kind, limit=size, after_id=cursor), after_id, limit, lambda view: view.id
        )
    emit_page(output, "files", files, after, lambda console: console.print(_files_table(files)))


@app.command("show")
def show(
    file_id: Annotated[int, typer.Argument(help="The item file's id.", min=1, show_default=False)],
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Show one item file's manifest."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.item_file(file_id)
    output.emit(view, lambda console: console.print_json(view.model_dump_json()))


def _render_report(console: Console, report: ExportReport) -> None:
    console.print(f"{report.files_written} file(s) written, {report.rows_written} row(s)", style="green", markup=False)
    if report.files:
        console.print(_files_table(report.files))


def _files_table(files: list[ItemFileView]) -> Table:
    shown = table(None, ">id", "kind", "path", "state", ">rows", ">first id", ">last id", "sha256")
    for view in files:
        shown.add_row(
            cell(view.id),
            cell(view.kind.value),
            cell(view.path),
            cell(view.state.value),
            cell(view.row_count),
            cell(view.first_id),
            cell(view.last_id),
            cell(view.sha256[:16] if view.sha256 else None),
        )
    return shown

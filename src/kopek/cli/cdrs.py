"""``kopek cdrs``: import CDRs (CSV, Parquet, JSON lines) into the CDR store, show one stored CDR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kopek.batch.cdr_import import ImportReport
from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, cell, reporting, table

CdrId = Annotated[str, typer.Argument(help="The CDR's id.", show_default=False)]

app = typer.Typer(rich_markup_mode=None, help="Import CDRs into the CDR store for batch rating, show a stored CDR.", no_args_is_help=True)


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="A .csv, .parquet or .jsonl file of CDRs (docs/batch.md).", dir_okay=False, show_default=False)
    ],
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first refused row and store nothing.")] = False,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Store the file's CDRs as pending, streamed; refused rows are listed by line (exit 1 when any row was refused)."""
    output = Output(json_output)
    with reporting(output, source=str(file)), open_engine(database_url) as engine:
        report = engine.import_cdr_file(file, strict=strict)
    output.emit(report, lambda console: _render(console, report))
    if report.rows_refused:
        raise typer.Exit(1)


@app.command("show")
def show(cdr_id: CdrId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show one stored CDR: its item, status and, once rated, its operation or error."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.cdr(cdr_id)
    output.emit(view, lambda console: console.print_json(view.model_dump_json()))


def _render(console: Console, report: ImportReport) -> None:
    console.print(
        f"{report.rows_read} row(s) read, {report.cdrs_imported} CDR(s) imported, {report.rows_refused} refused",
        style="green" if not report.rows_refused else "yellow",
        markup=False,
    )
    if report.failures:
        shown = table("Refused rows", ">line", "cdr", "category", "code", "message")
        for failure in report.failures:
            shown.add_row(
                cell(failure.line), cell(failure.cdr_id), cell(failure.category.value), cell(failure.code.value), cell(failure.message)
            )
        console.print(shown)
    if report.failures_truncated:
        console.print(f"(only the first {len(report.failures)} refused rows are listed)", style="dim")

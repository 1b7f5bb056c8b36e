"""``kopek cdrs``: import CDRs (CSV, Parquet, JSON lines) into the CDR store, show one stored CDR."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kopek.batch.cdr_import import ImportFailure, ImportReport
from kopek.batch.cdr_views import CdrView
from kopek.cli.options import AfterKey, DatabaseUrl, Json, PageSize, open_engine
from kopek.cli.output import Output, cell, emit_page, reporting, table
from kopek.domain.catalog_load import format_location
from kopek.paging import page


class CdrStatus(StrEnum):
    PENDING = "pending"
    CHARGED = "charged"
    FAILED = "failed"
    SKIPPED = "skipped"


CdrId = Annotated[str, typer.Argument(help="The CDR's id.", show_default=False)]

app = typer.Typer(
    rich_markup_mode=None, help="Import CDRs into the CDR store for batch rating; list and show stored CDRs.", no_args_is_help=True
)


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


@app.command("list")
def list_cdrs(
    status: Annotated[CdrStatus | None, typer.Option("--status", help="Only CDRs in this status.", show_default=False)] = None,
    contract_id: Annotated[str | None, typer.Option("--contract", help="Only this contract's CDRs.", show_default=False)] = None,
    job_id: Annotated[str | None, typer.Option("--job", help="Only the CDRs of this rating job.", show_default=False)] = None,
    chunk_id: Annotated[
        str | None,
        typer.Option("--chunk", help="Only the CDRs of this chunk of a rating job (see `kopek accounts operations`).", show_default=False),
    ] = None,
    item_class: Annotated[str | None, typer.Option("--item-class", help="Only CDRs of this item class.", show_default=False)] = None,
    date_from: Annotated[
        datetime | None,
        typer.Option("--from", help="Only CDRs consumed at or after this date (ISO 8601; no offset: UTC).", show_default=False),
    ] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", help="Only CDRs consumed before this date.", show_default=False)] = None,
    after_id: AfterKey = "",
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List stored CDRs with their status and, once rated, their operation or error, in id order; filters combine."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.cdrs(
                status=status.value if status is not None else None, contract_id=contract_id, job_id=job_id, chunk_id=chunk_id,
                item_class=item_class,
                date_from=_utc(date_from), date_to=_utc(date_to), after_id=cursor, limit=size,
            ),
            after_id,
            limit,
            lambda view: view.id,
        )  # fmt: skip
    emit_page(output, "cdrs", found, after, lambda console: _render_cdrs(console, found))


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _render_cdrs(console: Console, found: list[CdrView]) -> None:
    shown = table("CDRs", "id", "item class", "consumed", "service id", "user id", "status", "job", "error")
    for view in found:
        error = f"{view.error_category}/{view.error_code}" if view.error_code else None
        shown.add_row(
            cell(view.id), cell(view.item_class), cell(view.consumption_date), cell(view.service_id), cell(view.user_id),
            cell(view.status), cell(view.job_id), cell(error),
        )  # fmt: skip
    console.print(shown)


@app.command("show")
def show(cdr_id: CdrId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show one stored CDR: its item, status and, once rated, its operation or error."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.cdr(cdr_id)
    output.emit(view, lambda console: console.print_json(view.model_dump_json()))


FAILURES_SHOWN = 20
"""How many refused rows the import prints with their reasons (``--json`` lists up to ``CDR_IMPORT_FAILURES_REPORTED_MAX``)."""


def _render(console: Console, report: ImportReport) -> None:
    console.print(
        f"{report.rows_read} row(s) read, {report.cdrs_imported} CDR(s) imported, {report.rows_refused} refused",
        style="green" if not report.rows_refused else "yellow",
        markup=False,
    )
    if report.failures:
        shown = table("Refused rows", ">line", "cdr", "category", "code", "reason")
        for failure in report.failures[:FAILURES_SHOWN]:
            shown.add_row(
                cell(failure.line), cell(failure.cdr_id), cell(failure.category.value), cell(failure.code.value), cell(_reason(failure))
            )
        console.print(shown)
    if report.rows_refused > FAILURES_SHOWN:
        console.print(f"... and {report.rows_refused - FAILURES_SHOWN} more refused row(s); --json lists them", style="dim", markup=False)


def _reason(failure: ImportFailure) -> str:
    """What is wrong with a refused row: each fault with its field, or the refusal's message when it has no fault listed."""
    if not failure.details:
        return failure.message
    return "; ".join(f"{format_location(tuple(fault.location))}: {fault.message}" for fault in failure.details)

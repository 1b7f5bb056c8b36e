"""``kopek contract-states`` (export, restore) and ``kopek migration`` (begin, end): contract state migration.

See docs/migration.md for the runbook: begin the lock, export, restore, verify, end the lock.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, UsageError, cell, reporting, table
from kopek.errors import Code
from kopek.migration.lock import MigrationLockResult
from kopek.migration.restore import RestoreMode, RestoreReport
from kopek.migration.state import contract_state_json_schema

app = typer.Typer(rich_markup_mode=None, help="Export and restore contract states (JSON lines) for a migration.", no_args_is_help=True)
migration_app = typer.Typer(rich_markup_mode=None, help="Begin and end the migration lock of contracts.", no_args_is_help=True)

Contracts = Annotated[
    list[str] | None, typer.Option("--contract", help="A contract id; repeat for several.", metavar="ID", show_default=False)
]
AllContracts = Annotated[bool, typer.Option("--all", help="Every contract.")]


@app.command("export")
def export(
    contract: Contracts = None,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", help="Write the JSON lines to this file instead of stdout.", dir_okay=False, show_default=False),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Export the states of all (or the --contract) contracts as JSON lines, at one point in time (--json: errors as JSON)."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        states = engine.export_contract_states(contract or None)
        if output_file is None:
            for state in states:
                sys.stdout.write(state.line() + "\n")
            sys.stdout.flush()
            return
        with output_file.open("w", encoding="utf-8") as written:
            count = 0
            for state in states:
                written.write(state.line() + "\n")
                count += 1
        Output.console(stderr=True).print(f"Exported {count} contract state(s) to {output_file}", markup=False)


@app.command("schema")
def schema(json_output: Json = False) -> None:
    """Print the JSON Schema of one contract state line (always JSON; published as docs/contract-state.schema.json)."""
    del json_output  # The schema is JSON either way; the flag is accepted like on every command.
    sys.stdout.write(json.dumps(contract_state_json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A JSON lines file of contract states.", dir_okay=False, show_default=False)],
    mode: Annotated[
        RestoreMode, typer.Option("--mode", help="ALL_OR_NOTHING: the whole file or nothing; BEST_EFFORT: each valid contract.")
    ] = RestoreMode.ALL_OR_NOTHING,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Restore contract states onto migrating contracts; exits 1 when any state was refused (the report says which)."""
    output = Output(json_output)
    progress = _progress(Output.console(stderr=True))
    with reporting(output, source=str(file)), file.open("rb") as read, open_engine(database_url) as engine, progress:
        task = progress.add_task("restoring", total=file.stat().st_size)
        report = engine.restore_contract_states(_lines(read, progress, task), mode, actor=actor())
    output.emit(report, lambda console: _render_report(console, report))
    if report.states_failed:
        raise typer.Exit(1)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("Restoring"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True
    )


def _lines(read: BinaryIO, progress: Progress, task: TaskID) -> Iterator[str]:
    """The file's lines, one at a time, advancing the progress bar by their bytes; undecodable bytes fail that line only."""
    for raw in read:
        progress.advance(task, len(raw))
        yield raw.decode("utf-8", errors="replace")


def _render_report(console: Console, report: RestoreReport) -> None:
    verdict = "committed" if report.committed else "nothing committed"
    console.print(
        f"{report.mode.value}: {report.states_read} read, {report.states_restored} restored, {report.states_failed} failed ({verdict})",
        style="green" if not report.states_failed else "yellow",
        markup=False,
    )
    if report.failures:
        shown = table("Failures", ">line", "contract", "category", "code", "message")
        for failure in report.failures:
            shown.add_row(
                cell(failure.line), cell(failure.contract_id), cell(failure.category.value), cell(failure.code.value), cell(failure.message)
            )
        console.print(shown)
    if report.failures_truncated:
        console.print(f"(only the first {len(report.failures)} failures are listed)", style="dim")


def _selection(contract: list[str] | None, all_contracts: bool) -> list[str] | None:
    if bool(contract) == all_contracts:
        raise UsageError(code=Code.REQUEST_INVALID, message="give either --contract (repeatable) or --all")
    return None if all_contracts else contract


@migration_app.command("begin")
def begin(
    contract: Contracts = None, all_contracts: AllContracts = False, database_url: DatabaseUrl = None, json_output: Json = False
) -> None:
    """Mark contracts migrating: charging them answers TEMPORARY_ILLEGAL_STATE (retry later) until the migration ends."""
    output = Output(json_output)
    with reporting(output):
        selected = _selection(contract, all_contracts)
        with open_engine(database_url) as engine:
            result = engine.begin_migration(selected, actor=actor())
    output.emit(result, lambda console: _render_lock(console, result))


@migration_app.command("end")
def end(
    contract: Contracts = None, all_contracts: AllContracts = False, database_url: DatabaseUrl = None, json_output: Json = False
) -> None:
    """Mark migrating contracts active again."""
    output = Output(json_output)
    with reporting(output):
        selected = _selection(contract, all_contracts)
        with open_engine(database_url) as engine:
            result = engine.end_migration(selected, actor=actor())
    output.emit(result, lambda console: _render_lock(console, result))


def _render_lock(console: Console, result: MigrationLockResult) -> None:
    status = "migrating" if result.action.value == "begin" else "active"
    console.print(f"{result.contracts_changed} contract(s) now {status}", style="green", markup=False)

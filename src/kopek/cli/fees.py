"""``kopek fees run`` (charge the due fees up to a date) and ``kopek fees activations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from kopek.charging.fees import ActivationView, ContractOutcome, FeeRunReport
from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, cell, reporting, table
from kopek.errors import Code, ErrorDetail, InvalidError

app = typer.Typer(rich_markup_mode=None, help="Recurring and one-off fees: charge the due periods, read activations.", no_args_is_help=True)


@app.command("run")
def run(
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Charge the periods starting at or before this date (ISO 8601; no offset: UTC). Default: now.",
            show_default=False,
        ),
    ] = None,
    notifications: Annotated[bool, typer.Option("--notifications", help="List the fee_applied notifications too.")] = False,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge every due fee period exactly once; exits 1 when a contract failed."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        moment = _instant(until, option="--until") if until is not None else engine.now()
        report = engine.run_fees(moment, notifications=notifications, actor=actor())
    output.emit(report, lambda console: _render_run(console, report))
    if report.failed:
        raise typer.Exit(1)


@app.command("activations")
def activations(
    contract_id: Annotated[str, typer.Argument(help="The contract's id.", show_default=False)],
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """The charge activations of a contract: status and last activation date."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found = engine.activations(contract_id)
    output.emit(found, lambda console: _render_activations(console, found))


def _instant(text: str, *, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"{option}: {text!r} is not an ISO 8601 date",
            details=(ErrorDetail("expected an ISO 8601 date, optionally with a time and an offset", (option,)),),
        ) from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _render_run(console: Console, report: FeeRunReport) -> None:
    console.print(
        f"Fees up to {report.until.isoformat()}: {report.fees_applied} period(s) charged on {report.contracts_charged} contract(s) "
        f"of {report.contracts_seen}; {report.suspended_items} item(s) suspended, {report.skipped} skipped, {report.failed} failed",
        style="yellow" if report.failed else "green",
        markup=False,
    )
    applied = [fee for contract in report.contracts for fee in contract.applied]
    if applied:
        shown = table("Fees charged", "contract", "contract item", "fee", "period start", "account", ">amount", "currency")
        for fee in applied:
            shown.add_row(
                cell(fee.contract_id),
                cell(fee.contract_item_id),
                cell(fee.fee),
                cell(fee.period_start.isoformat()),
                cell(fee.account_id),
                cell(fee.amount),
                cell(fee.currency),
            )
        console.print(shown)
    for contract in report.contracts:
        if contract.outcome in (ContractOutcome.SKIPPED, ContractOutcome.FAILED):
            console.print(f"Contract {contract.contract_id} {contract.outcome.value}: {contract.reason}", style="yellow", markup=False)
        for note in contract.notifications or []:
            console.print(f"Notification {note.kind}: {note.message}", style="yellow", markup=False)
        for item_id in contract.suspended_items:
            console.print(f"Contract {contract.contract_id} item {item_id} suspended: its payer cannot cover the fee", markup=False)


def _render_activations(console: Console, found: list[ActivationView]) -> None:
    shown = table("Activations", "id", "contract item", "kind", "status", "last activation date")
    for record in found:
        last = record.last_activation_date.isoformat() if record.last_activation_date else None
        shown.add_row(cell(record.id), cell(record.contract_item_id), cell(record.kind), cell(record.status), cell(last))
    console.print(shown)

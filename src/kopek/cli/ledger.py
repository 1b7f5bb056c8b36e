"""``kopek ledger verify``: check that balances, account operations, charged items and reservations add up."""

from __future__ import annotations

import typer
from rich.console import Console

from kopek.admin.ledger import LedgerReport
from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, cell, reporting, table

app = typer.Typer(rich_markup_mode=None, help="The ledger: verify that it adds up.", no_args_is_help=True)


@app.command("verify")
def verify(database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Check every balance against its account operations, every reservation against its session, every charged item
    against the account operation posting it; exit 1 when anything differs."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        report = engine.verify_ledger()
    output.emit(report, lambda console: render(console, report))
    if not report.consistent:
        raise typer.Exit(1)


def render(console: Console, report: LedgerReport) -> None:
    counted = (
        f"{report.accounts} account(s), {report.account_operations} account operation(s), "
        f"{report.charged_items} charged item(s), {report.reservations} reservation(s)"
    )
    if report.consistent:
        console.print(f"The ledger adds up: {counted}", style="green", markup=False)
        return
    console.print(f"The ledger does not add up: {report.differences_total} difference(s) in {counted}", style="bold red", markup=False)
    shown = table("Differences", "kind", "subject", ">expected", ">found", "message")
    for difference in report.differences:
        shown.add_row(
            cell(difference.kind.value),
            cell(difference.subject),
            cell(difference.expected if difference.expected is not None else "-"),
            cell(difference.found if difference.found is not None else "-"),
            cell(difference.message),
        )
    console.print(shown)

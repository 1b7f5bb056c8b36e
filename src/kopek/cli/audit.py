"""``kopek audit list``: the audit log of administrative and money-creating operations (docs/security.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from kopek import limits
from kopek.admin.audit import AuditRecord
from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, cell, reporting, table
from kopek.errors import Code, InvalidError
from kopek.store.audit_store import AuditFilter

app = typer.Typer(rich_markup_mode=None, help="The audit log: who did what to which target, when, and how it ended.", no_args_is_help=True)


@app.callback()
def _audit() -> None:
    """The audit log: who did what to which target, when, and how it ended (docs/security.md)."""


@app.command("list")
def list_records(
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor, e.g. api-key:billing or cli:ops.", show_default=False)
    ] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action, e.g. account.adjust.", show_default=False)] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Only this target, e.g. account/alice-prepaid.", show_default=False)
    ] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="succeeded or refused.", show_default=False)] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only records at or after this ISO 8601 instant.", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only records at or before this ISO 8601 instant.", show_default=False)
    ] = None,
    after_id: Annotated[int, typer.Option("--after-id", help="Only records with a larger id (paging).", min=0)] = 0,
    limit: Annotated[int, typer.Option("--limit", help="At most this many records.", min=1, max=limits.LIST_PAGE_SIZE_MAX)] = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List audit records, oldest first; filters combine (all must match)."""
    output = Output(json_output)
    with reporting(output):
        if outcome not in (None, "succeeded", "refused"):
            raise InvalidError(code=Code.REQUEST_INVALID, message=f"--outcome is succeeded or refused, not {outcome!r}")
        chosen = AuditFilter(actor, action, target, outcome, _instant(since, "--since"), _instant(until, "--until"))
        with open_engine(database_url) as engine:
            records = engine.audit_records(chosen, after_id=after_id, limit=limit)
    output.emit({"records": records}, lambda console: _render(console, records))


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"{option}: {text!r} is not an ISO 8601 date and time") from error
    if moment.tzinfo is None:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"{option}: {text!r} needs a time zone offset")
    return moment


def _render(console: Console, records: list[AuditRecord]) -> None:
    listing = table("Audit log", ">id", "at", "actor", "action", "target", "outcome", "details")
    for record in records:
        details = ", ".join(f"{key}={value}" for key, value in record.details.items())
        listing.add_row(
            cell(record.id),
            cell(record.at),
            cell(record.actor),
            cell(record.action),
            cell(record.target),
            cell(record.outcome),
            cell(details),
        )
    console.print(listing if records else "No audit records.")

"""``kopek sessions``: online charging sessions from the command line (start, update, stop, cancel, show, list, cleanup)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT
from kopek.charging.session_views import (
    CleanupReport,
    Resolution,
    SessionResult,
    SessionStatus,
    SessionView,
    StartSession,
    StopSession,
    UpdateSession,
)
from kopek.cli.options import AfterKey, DatabaseUrl, Json, PageSize, actor, key_values, open_engine
from kopek.cli.output import Output, cell, emit_page, reporting, table
from kopek.errors import Code, ErrorDetail, InvalidError
from kopek.limits import SESSION_RETENTION_SECONDS_MAX
from kopek.paging import page

app = typer.Typer(
    rich_markup_mode=None, help="Online charging sessions: reserve, charge usage, release; list and clean up.", no_args_is_help=True
)

SessionId = Annotated[str, typer.Argument(help="The session id.", show_default=False)]
Used = Annotated[str, typer.Option("--used", help="Usage since the last grant, in the item's quantity unit.", show_default=False)]
Requested = Annotated[
    str | None, typer.Option("--requested", help="The grant wanted; default: as much as the money allows.", show_default=False)
]
IdempotencyKey = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Your id of this call: a retry with it answers the first result.", show_default=False),
]
UsageBegan = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When the usage reported began, ISO 8601 with offset. Default: the start, moved on by the time already used.",
        show_default=False,
    ),
]


@app.command("start")
def start(
    session_id: SessionId,
    item_class: Annotated[str, typer.Option("--class", help="The item class, e.g. voice_call.", show_default=False)],
    service_id: Annotated[str, typer.Option("--service-id", help="The service used.", show_default=False)],
    user_id: Annotated[str, typer.Option("--user-id", help="The user.", show_default=False)],
    quantity_property: Annotated[
        str, typer.Option("--quantity", help="The quantity property to invert, e.g. duration.", show_default=False)
    ],
    ttl_ms: Annotated[int, typer.Option("--ttl-ms", help="Time to live of a grant, in milliseconds.")] = 60_000,
    requested: Requested = None,
    resolution: Annotated[Resolution, typer.Option("--default-resolution", help="What the expiry clean-up does.")] = Resolution.CONFIRMED,
    reservation_id: Annotated[
        str | None, typer.Option("--reservation-id", help="Shared by a multiservice session; default: the session id.", show_default=False)
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Consumption date, ISO 8601 with offset. Default: now.", show_default=False)
    ] = None,
    properties: Annotated[
        list[str] | None,
        typer.Option(
            "--property", "-p", help="Another property as NAME=VALUE; repeat for several.", metavar="NAME=VALUE", show_default=False
        ),
    ] = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Start a session: grant the largest affordable quantity up to --requested and reserve its price."""
    output = Output(json_output)
    with reporting(output):
        item_properties: dict[str, object] = dict(key_values(properties, option="--property"))
        with open_engine(database_url) as engine:
            command = StartSession(
                session_id=session_id,
                item_class=item_class,
                service_id=service_id,
                user_id=user_id,
                consumption_date=_moment(at) if at is not None else engine.now(),
                ttl_ms=ttl_ms,
                quantity_property=quantity_property,
                properties=item_properties,
                requested_quantity=requested,
                default_resolution=resolution,
                reservation_id=reservation_id,
                idempotency_key=idempotency_key,
            )
            result = engine.start_session(command)
    output.emit(result, lambda console: render_result(console, "Started", result))


@app.command("update")
def update(
    session_id: SessionId,
    used: Used,
    requested: Requested = None,
    at: UsageBegan = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge the usage since the last grant and reserve the next grant."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        began = _moment(at) if at is not None else None
        result = engine.update_session(UpdateSession(session_id, used, requested, idempotency_key, consumption_date=began))
    output.emit(result, lambda console: render_result(console, "Updated", result))


@app.command("stop")
def stop(
    session_id: SessionId,
    used: Used = "0",
    at: UsageBegan = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge the final usage, release the rest and end the session."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        began = _moment(at) if at is not None else None
        result = engine.stop_session(StopSession(session_id, used, idempotency_key, consumption_date=began))
    output.emit(result, lambda console: render_result(console, "Stopped", result))


@app.command("cancel")
def cancel(
    session_id: SessionId, idempotency_key: IdempotencyKey = None, database_url: DatabaseUrl = None, json_output: Json = False
) -> None:
    """Release the reservation without charging; end the session."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        result = engine.cancel_session(session_id, idempotency_key=idempotency_key)
    output.emit(result, lambda console: render_result(console, "Cancelled", result))


@app.command("show")
def show(session_id: SessionId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show a session: grant, reservations, usage charged and impacts."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.session(session_id)
    output.emit(view, lambda console: render_session(console, view))


@app.command("list")
def list_sessions(
    subscriber_account_id: Annotated[
        str | None, typer.Argument(help="Only this subscriber account's sessions.", show_default=False)
    ] = None,
    status: Annotated[
        SessionStatus | None, typer.Option("--status", help="Only sessions in this status (active: the live ones).", show_default=False)
    ] = None,
    contract_id: Annotated[str | None, typer.Option("--contract", help="Only this contract's sessions.", show_default=False)] = None,
    reservation_id: Annotated[
        str | None, typer.Option("--reservation", help="Only the sessions of this multiservice reservation.", show_default=False)
    ] = None,
    after_id: AfterKey = "",
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List charging sessions, live or ended (until the clean-up removes them), in id order; filters combine."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.sessions(
                status=status, subscriber_account_id=subscriber_account_id, contract_id=contract_id, reservation_id=reservation_id,
                after_id=cursor, limit=size,
            ),
            after_id,
            limit,
            lambda view: view.session_id,
        )  # fmt: skip
    emit_page(output, "sessions", found, after, lambda console: render_sessions(console, found))


@app.command("cleanup")
def cleanup(
    session_id: Annotated[
        str | None,
        typer.Argument(help="Force the clean-up of this live session; without it, end every expired session.", show_default=False),
    ] = None,
    retention_seconds: Annotated[
        int,
        typer.Option(
            "--retention-seconds",
            help="Also remove the sessions that ended at least this long ago.",
            min=0,
            max=SESSION_RETENTION_SECONDS_MAX,
        ),
    ] = SESSION_RETENTION_SECONDS_DEFAULT,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """End expired sessions (or one session now) with their default resolution; remove the sessions that ended longer ago
    than the retention."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        if session_id is not None:
            result = engine.cleanup_session(session_id)
            report = CleanupReport(resolved=[result.session.session_id])
        else:
            report = engine.cleanup_expired_sessions(actor=actor(), retention_seconds=retention_seconds)
    removed = f"; removed {report.removed} ended session(s)" if report.removed else ""
    output.emit(
        report,
        lambda console: console.print(
            f"Cleaned up {len(report.resolved)} session(s): {', '.join(report.resolved) or '-'}{removed}", markup=False
        ),
    )


def render_result(console: Console, verb: str, result: SessionResult) -> None:
    session = result.session
    console.print(
        f"{verb} session {session.session_id} ({session.status.value}): granted {result.granted_quantity}, "
        f"reserved {result.reserved_amount} {result.currency}, expires {result.expires_at.isoformat()}",
        style="bold",
        markup=False,
    )
    if result.grant_refusal:
        console.print(f"No further grant: {result.grant_refusal}", style="yellow", markup=False)
    for note in result.notifications:
        console.print(f"Notification {note.kind}: {note.message}", style="yellow", markup=False)
    render_session(console, session)


def render_session(console: Console, view: SessionView) -> None:
    console.print(
        f"Session {view.session_id} of {view.subscriber_account_id} / {view.contract_id} ({view.status.value}): "
        f"used {view.used_quantity}, charged {view.charged_amount} {view.currency}, granted {view.granted_quantity}, "
        f"reserved {view.reserved_amount} {view.currency}",
        markup=False,
    )
    if view.impacts.charged_items:
        shown = table("Charged items", "operation", "charge", "account", ">quantity", ">amount", "currency")
        for line in view.impacts.charged_items:
            shown.add_row(
                cell(line.operation_id),
                cell(line.charge),
                cell(line.account_id),
                cell(line.quantity),
                cell(line.amount),
                cell(line.currency),
            )
        console.print(shown)


def render_sessions(console: Console, views: list[SessionView]) -> None:
    shown = table("Sessions", "session", "status", "reservation", "contract", "item class", ">granted", ">reserved", "currency", "expires")
    for view in views:
        shown.add_row(
            cell(view.session_id),
            cell(view.status.value),
            cell(view.reservation_id),
            cell(view.contract_id),
            cell(view.item_class),
            cell(view.granted_quantity),
            cell(view.reserved_amount),
            cell(view.currency),
            cell(view.expires_at.isoformat()),
        )
    console.print(shown)


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"--at: {text!r} is not an ISO 8601 date and time",
            details=(ErrorDetail("expected an ISO 8601 date and time with offset", ("--at",)),),
        ) from error

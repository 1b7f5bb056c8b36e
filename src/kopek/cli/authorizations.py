"""``kopek authorizations``: offline requests that only reserve an item's amount (create), then capture or release them
by their reservation id, and show them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kopek.charging.authorization_views import AuthorizationResult, AuthorizationView, Authorize, Capture
from kopek.charging.session_views import Resolution
from kopek.cli.charging import ConsumptionDate, ItemClass, ItemProperties, ServiceId, UserId, chargeable_item, render_result
from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, cell, reporting, table
from kopek.domain.item import ChargeableItem
from kopek.money import to_text

app = typer.Typer(
    rich_markup_mode=None,
    help="Authorizations: reserve the amount of an item, then capture (charge) or release it by its reservation id.",
    no_args_is_help=True,
)

ReservationId = Annotated[str, typer.Argument(help="The authorization's reservation id.", show_default=False)]
IdempotencyKey = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Your id of this call: a retry with it answers the first result.", show_default=False),
]


@app.command("create")
def create(
    item_class: ItemClass,
    service_id: ServiceId,
    user_id: UserId,
    reservation_id: Annotated[
        str | None, typer.Option("--reservation-id", help="The authorization's id; default: one is made.", show_default=False)
    ] = None,
    ttl_ms: Annotated[int, typer.Option("--ttl-ms", help="How long the reservation is held, in milliseconds.")] = 600_000,
    resolution: Annotated[
        Resolution, typer.Option("--default-resolution", help="At expiry: cancelled releases it, confirmed captures it.")
    ] = Resolution.CANCELLED,
    at: ConsumptionDate = None,
    properties: ItemProperties = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Reserve the amount of one chargeable item; a refused item exits 1 with the error on stderr."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        item = chargeable_item(engine, item_class, service_id, user_id, at, properties)
        command = Authorize(item, ttl_ms, reservation_id, resolution, idempotency_key)
        result = engine.authorize(command, actor=actor())
    output.emit(result, lambda console: render_answer(console, "Authorized", result))


@app.command("capture")
def capture(
    reservation_id: ReservationId,
    quantity: Annotated[
        str | None, typer.Option("--quantity", help="The final quantity to charge; default: the authorized one.", show_default=False)
    ] = None,
    idempotency_key: IdempotencyKey = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge the authorized item (with its final quantity) and end the authorization."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        result = engine.capture_authorization(Capture(reservation_id, quantity, idempotency_key), actor=actor())
    output.emit(result, lambda console: render_answer(console, "Captured", result))


@app.command("release")
def release(
    reservation_id: ReservationId, idempotency_key: IdempotencyKey = None, database_url: DatabaseUrl = None, json_output: Json = False
) -> None:
    """Release the reservation without charging anything, and end the authorization."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        result = engine.release_authorization(reservation_id, idempotency_key=idempotency_key, actor=actor())
    output.emit(result, lambda console: render_answer(console, "Released", result))


@app.command("show")
def show(reservation_id: ReservationId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show an authorization: what it reserved, its status and what its capture charged."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.authorization(reservation_id)
    output.emit(view, lambda console: render_view(console, view))


def render_answer(console: Console, verb: str, result: AuthorizationResult) -> None:
    replayed = " (replayed: the first answer of this idempotency key)" if result.replayed else ""
    console.print(f"{verb} {result.authorization.reservation_id}{replayed}", style="bold", markup=False)
    render_view(console, result.authorization)
    if result.charge is not None:
        item = result.authorization.item
        render_result(
            console, ChargeableItem(item.item_class, item.consumption_date, item.service_id, item.user_id, item.properties), result.charge
        )


def render_view(console: Console, view: AuthorizationView) -> None:
    shown = table(f"Authorization {view.reservation_id}", "field", "value")
    for name, value in (
        ("status", view.status.value),
        ("default resolution", view.default_resolution.value),
        ("contract", view.contract_id),
        ("item", f"{view.item.item_class} of {view.item.service_id}/{view.item.user_id} at {view.item.consumption_date.isoformat()}"),
        ("authorized", f"{to_text(view.authorized_quantity)} for {to_text(view.authorized_amount)} {view.currency}"),
        ("reserved", f"{to_text(view.reserved_amount)} {view.currency}"),
        ("captured", f"{to_text(view.captured_quantity)} for {to_text(view.charged_amount)} {view.currency}"),
        ("expires at", view.expires_at.isoformat()),
    ):
        shown.add_row(cell(name), cell(value))
    console.print(shown)

"""``kopek charge``: charge one chargeable item (offline charging) and print the result."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console

from kopek.charging.offline import error_notifications
from kopek.charging.results import ChargeResult, ResultOptions
from kopek.cli.options import DatabaseUrl, Json, key_values, open_engine
from kopek.cli.output import Output, cell, fail, jsonable, reporting, table
from kopek.cli.views import render_accounts
from kopek.domain.item import ChargeableItem
from kopek.engine import Engine
from kopek.errors import Code, ErrorDetail, InvalidError, KopekError
from kopek.money import to_text

RESULT_OPTION_NAMES = tuple(ResultOptions.model_fields)


ItemClass = Annotated[str, typer.Option("--class", help="The chargeable item class, e.g. voice_call.", show_default=False)]
ServiceId = Annotated[str, typer.Option("--service-id", help="The service used, e.g. mobile.", show_default=False)]
UserId = Annotated[str, typer.Option("--user-id", help="The user, e.g. a phone number.", show_default=False)]
ConsumptionDate = Annotated[
    str | None,
    typer.Option("--at", help="Consumption date, ISO 8601 with offset (e.g. 2026-06-01T10:00:00+02:00). Default: now.", show_default=False),
]
ItemProperties = Annotated[
    list[str] | None,
    typer.Option(
        "--property",
        "-p",
        help="A property as NAME=VALUE, e.g. duration=120; repeat for several.",
        metavar="NAME=VALUE",
        show_default=False,
    ),
]
"""The options that give a chargeable item, alike in every command that takes one (charge, quote, authorize)."""


def charge(
    item_class: ItemClass,
    service_id: ServiceId,
    user_id: UserId,
    at: ConsumptionDate = None,
    properties: ItemProperties = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Your id of this request: a retry with it charges nothing more.", show_default=False),
    ] = None,
    sender_job_id: Annotated[str | None, typer.Option("--sender-job-id", help="Recorded with the charge.", show_default=False)] = None,
    options: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help=f"A result section to include; repeat for several. One of: {', '.join(RESULT_OPTION_NAMES)}.",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge one chargeable item and print the result; a refused item exits 1 with the error on stderr."""
    output = Output(json_output)
    with reporting(output):
        result_options = _result_options(options)
        with open_engine(database_url) as engine:
            item = chargeable_item(engine, item_class, service_id, user_id, at, properties)
            try:
                result = engine.charge(item, result_options, idempotency_key=idempotency_key, sender_job_id=sender_job_id)
            except KopekError as error:
                extra = {"notifications": jsonable(error_notifications(error))} if result_options.notifications_on_error else None
                fail(output, error, extra=extra)
    output.emit(result_data(result), lambda console: render_result(console, item, result))


def _result_options(names: list[str] | None) -> ResultOptions:
    chosen = [name.strip() for given in names or [] for name in given.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in RESULT_OPTION_NAMES]
    if unknown:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"unknown result option(s) {', '.join(unknown)}; known: {', '.join(RESULT_OPTION_NAMES)}",
            details=tuple(ErrorDetail(f"unknown result option {name!r}", ("--option",)) for name in unknown),
        )
    return ResultOptions.model_validate(dict.fromkeys(chosen, True))


def chargeable_item(
    engine: Engine, item_class: str, service_id: str, user_id: str, at: str | None, properties: list[str] | None
) -> ChargeableItem:
    """The item the item options give; its consumption date defaults to the engine's now."""
    item_properties: dict[str, object] = dict(key_values(properties, option="--property"))
    moment = consumption_moment(at) if at is not None else engine.now()
    return ChargeableItem(item_class, moment, service_id, user_id, item_properties)


def consumption_moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"--at: {text!r} is not an ISO 8601 date and time",
            details=(ErrorDetail("expected an ISO 8601 date and time with offset", ("--at",)),),
        ) from error


def result_data(result: ChargeResult) -> dict[str, Any]:
    """The result as JSON data holding exactly the sections that were asked for."""
    data: dict[str, Any] = result.model_dump(mode="json")
    return {key: value for key, value in data.items() if value is not None}


def render_result(console: Console, item: ChargeableItem, result: ChargeResult) -> None:
    process = result.charging_process_info
    replayed = " (replayed: this idempotency key was charged before)" if process is not None and process.replayed else ""
    console.print(
        f"Charged {item.item_class} of {item.service_id}/{item.user_id} at {item.consumption_date.isoformat()}: "
        f"operation {result.operation_id}{replayed}",
        style="bold",
        markup=False,
    )
    if result.charged_items is not None:
        _render_charged_items(console, result)
    if result.account_operations:
        operations = table("Account operations", "account", "kind", ">amount", ">balance after", "currency")
        for operation in result.account_operations:
            operations.add_row(
                cell(operation.account_id),
                cell(operation.kind),
                cell(operation.amount),
                cell(operation.balance_after),
                cell(operation.currency),
            )
        console.print(operations)
    if result.account_info is not None:
        render_accounts(console, result.account_info, title="Accounts after the charge")
    for note in result.notifications or []:
        console.print(f"Notification {note.kind}: {note.message}", style="yellow", markup=False)
    _render_info(console, result)


def _render_charged_items(console: Console, result: ChargeResult) -> None:
    charged = result.charged_items or []
    shown = table("Charged items", "contract item", "charge plan", "charge", "account", ">quantity", ">amount", "currency")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in charged:
        quantity = f"{to_text(line.quantity)} {line.quantity_unit}" if line.quantity_unit else to_text(line.quantity)
        shown.add_row(
            cell(line.contract_item_id),
            cell(line.charge_plan),
            cell(line.charge),
            cell(line.account_id),
            cell(quantity),
            cell(line.amount),
            cell(line.currency),
        )
        totals[line.currency] += line.amount
    console.print(shown)
    console.print(
        "Total: " + ", ".join(f"{to_text(amount)} {currency}" for currency, amount in sorted(totals.items())), style="bold", markup=False
    )


def _render_info(console: Console, result: ChargeResult) -> None:
    if result.contract_info is not None:
        contract = result.contract_info
        console.print(f"Contract {contract.contract_id} of {contract.subscriber_account_id} ({contract.status})", markup=False)
    if result.chargeable_item_info is not None:
        shown = ", ".join(f"{name}={value}" for name, value in sorted(result.chargeable_item_info.properties.items()))
        console.print(f"Item properties: {shown}", markup=False)
    if result.charging_process_info is not None:
        process = result.charging_process_info
        console.print(f"Catalog version {process.catalog_version}, charged at {process.charged_at.isoformat()}", markup=False)

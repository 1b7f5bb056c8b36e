"""``kopek quote``: what one chargeable item, or a quantity of it, would cost now, by charge and pricing node."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kopek.charging.price_enquiry import Quote
from kopek.cli.charging import ConsumptionDate, ItemClass, ItemProperties, ServiceId, UserId, chargeable_item
from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, cell, reporting, table
from kopek.money import exact_text, to_text


def quote(
    item_class: ItemClass,
    service_id: ServiceId,
    user_id: UserId,
    at: ConsumptionDate = None,
    properties: ItemProperties = None,
    quantity: Annotated[
        str | None,
        typer.Option(
            "--quantity", help="Price this quantity instead of the item's own (in its class's quantity unit).", show_default=False
        ),
    ] = None,
    maximum_affordable: Annotated[
        bool,
        typer.Option("--maximum-affordable", help="Also tell the largest quantity the paying accounts can afford now."),
    ] = False,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Price one chargeable item as a charge would, charging and writing nothing; a refusal exits 1 with the error on stderr."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        item = chargeable_item(engine, item_class, service_id, user_id, at, properties)
        answer = engine.quote(item, quantity=quantity, maximum_affordable=maximum_affordable)
    output.emit(answer.model_dump(mode="json"), lambda console: render_quote(console, answer))


def render_quote(console: Console, answer: Quote) -> None:
    quantity = f" of {to_text(answer.quantity)} {answer.quantity_unit}" if answer.quantity is not None else ""
    total = f"{to_text(answer.amount)} {answer.currency}" if answer.currency else to_text(answer.amount)
    console.print(
        f"Quote of {answer.item_class}{quantity} for contract {answer.contract_id} (catalog version {answer.catalog_version}): {total}",
        style="bold",
        markup=False,
    )
    for charge in answer.charges:
        nodes = table(
            f"Charge {charge.charge_plan}/{charge.charge} of {charge.contract_item_id}: {to_text(charge.amount)} {charge.currency}",
            "node",
            "detail",
            ">quantity",
            ">amount (unrounded)",
        )
        for node in charge.nodes:
            nodes.add_row(
                cell("  " * node.depth + node.node), cell(node.detail), cell(exact_text(node.quantity)), cell(exact_text(node.amount))
            )
        console.print(nodes)
    if answer.allowances:
        used = table("Allowances used", "counter", "contract item", ">before", ">used", ">after", "unit")
        for use in answer.allowances:
            used.add_row(
                cell(use.counter),
                cell(use.contract_item_id),
                cell(exact_text(use.before)),
                cell(exact_text(use.used)),
                cell(exact_text(use.after)),
                cell(use.unit),
            )
        console.print(used)
    affordable = answer.maximum_affordable
    if affordable is not None:
        refusal = f" ({affordable.refusal})" if affordable.refusal else ""
        amounts = ", ".join(f"{line.account_id} {to_text(line.amount)}" for line in affordable.amounts)
        console.print(
            f"Maximum affordable quantity: {to_text(affordable.quantity)}{refusal}" + (f", priced {amounts}" if amounts else ""),
            markup=False,
        )

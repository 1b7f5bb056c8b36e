"""``kopek refill``: credit a prepaid balance by a refill plan, with its bonus units."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console

from kopek.charging.refills import RefillCommand, RefillResult
from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, reporting
from kopek.errors import Code, ErrorDetail, InvalidError
from kopek.money import NotADecimalError, to_decimal


def refill(
    refill_id: Annotated[
        str, typer.Option("--refill-id", help="Your id of this refill: a retry with it credits nothing more.", show_default=False)
    ],
    contract_id: Annotated[str, typer.Option("--contract", help="The contract whose prepaid account is credited.", show_default=False)],
    refill_plan: Annotated[str, typer.Option("--plan", help="The refill plan of the catalog.", show_default=False)],
    amount: Annotated[
        str | None, typer.Option("--amount", help="The amount, e.g. 20.00; leave out for a plan with a fixed amount.", show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Refill a prepaid balance; a refused refill changes nothing and exits 1 with the error on stderr."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        result = engine.refill(RefillCommand(refill_id, contract_id, refill_plan, _amount(amount)), actor=actor())
    output.emit(result, lambda console: _render(console, result))


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return to_decimal(text)
    except NotADecimalError as error:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"--amount: {text!r} is not a decimal number",
            details=(ErrorDetail("expected a decimal number such as 20.00", ("--amount",)),),
        ) from error


def _render(console: Console, result: RefillResult) -> None:
    replayed = " (replayed: this refill id was applied before)" if result.replayed else ""
    console.print(
        f"Refilled {result.amount} {result.currency} to {result.account_id} by plan {result.refill_plan}: "
        f"balance {result.balance_after} {result.currency}, operation {result.operation_id}{replayed}",
        style="green",
        markup=False,
    )
    if result.bonus is not None:
        bonus = result.bonus
        console.print(
            f"Bonus: {bonus.units} {bonus.unit} in counter {bonus.counter} (now {bonus.value_after}), until {bonus.expires_at.isoformat()}",
            markup=False,
        )

"""``kopek accounts``: subscriber accounts and their prepaid and postpaid accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kopek.admin.master_data import AccountUpdate, AdjustmentInput, SubscriberAccountInput, SubscriberAccountUpdate
from kopek.cli.options import AfterKey, DatabaseUrl, Json, PageSize, actor, open_engine, read_model
from kopek.cli.output import Output, UsageError, emit_page, reporting
from kopek.cli.views import render_account, render_operations, render_subscriber_account, render_subscriber_accounts
from kopek.domain.master import AccountStatus, SubscriberAccountStatus
from kopek.errors import Code
from kopek.limits import LIST_PAGE_SIZE_MAX
from kopek.paging import page

app = typer.Typer(
    rich_markup_mode=None,
    help="Subscriber accounts and their prepaid and postpaid accounts: create, list, show, update; operations and adjustments.",
    no_args_is_help=True,
)

SubscriberAccountId = Annotated[str, typer.Argument(help="The subscriber account id.", show_default=False)]
AccountId = Annotated[str, typer.Argument(help="The id of a prepaid or postpaid account.", show_default=False)]
Status = Annotated[SubscriberAccountStatus | None, typer.Option("--status", help="active, blocked, locked or closed.", show_default=False)]


@app.command("create")
def create(
    subscriber_account_id: Annotated[str | None, typer.Option("--id", help="The new subscriber account's id.", show_default=False)] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 currency code, e.g. EUR.", show_default=False)] = None,
    name: Annotated[str, typer.Option("--name", help="A display name.")] = "",
    status: Status = None,
    prepaid_balance: Annotated[
        str | None,
        typer.Option("--prepaid-balance", help="Also create the prepaid account ID-prepaid with this opening balance.", show_default=False),
    ] = None,
    prepaid_low_balance_threshold: Annotated[
        str | None,
        typer.Option(
            "--prepaid-low-balance-threshold",
            help="With --prepaid-balance: a charge taking the balance below this notifies low_balance.",
            show_default=False,
        ),
    ] = None,
    postpaid_credit_limit: Annotated[
        str | None,
        typer.Option(
            "--postpaid-credit-limit", help="Also create the postpaid account ID-postpaid with this credit limit.", show_default=False
        ),
    ] = None,
    postpaid: Annotated[
        bool, typer.Option("--postpaid", help="Also create the postpaid account ID-postpaid, without a credit limit.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Read the subscriber account (with its accounts) from a YAML or JSON file instead.", dir_okay=False),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Create a subscriber account and its accounts, from options or from --file."""
    output = Output(json_output)
    with reporting(output, source=str(file) if file else None):
        if file is not None:
            if subscriber_account_id or currency or prepaid_balance or prepaid_low_balance_threshold or postpaid_credit_limit or postpaid:
                raise UsageError(code=Code.REQUEST_INVALID, message="give either --file or --id and --currency, not both")
            record = read_model(file, SubscriberAccountInput, what="the subscriber account")
        else:
            record = _record_from_options(
                subscriber_account_id,
                currency,
                name,
                status,
                prepaid_balance,
                postpaid_credit_limit,
                postpaid=postpaid,
                low_balance_threshold=prepaid_low_balance_threshold,
            )
        with open_engine(database_url) as engine:
            view = engine.create_subscriber_account(record, actor=actor())
    output.emit(view, lambda console: render_subscriber_account(console, view))


def _record_from_options(
    subscriber_account_id: str | None,
    currency: str | None,
    name: str,
    status: SubscriberAccountStatus | None,
    prepaid_balance: str | None,
    postpaid_credit_limit: str | None,
    *,
    postpaid: bool,
    low_balance_threshold: str | None = None,
) -> SubscriberAccountInput:
    if subscriber_account_id is None or currency is None:
        raise UsageError(code=Code.REQUEST_INVALID, message="--id and --currency are required unless --file is given")
    accounts: list[dict[str, Any]] = []
    if low_balance_threshold is not None and prepaid_balance is None:
        raise UsageError(code=Code.REQUEST_INVALID, message="--prepaid-low-balance-threshold needs --prepaid-balance")
    if prepaid_balance is not None:
        prepaid = {"id": f"{subscriber_account_id}-prepaid", "kind": "prepaid", "initial_balance": prepaid_balance}
        accounts.append(prepaid | {"low_balance_threshold": low_balance_threshold})
    if postpaid_credit_limit is not None or postpaid:
        accounts.append({"id": f"{subscriber_account_id}-postpaid", "kind": "postpaid", "credit_limit": postpaid_credit_limit})
    document: dict[str, Any] = {"id": subscriber_account_id, "currency": currency, "name": name, "accounts": accounts}
    if status is not None:
        document["status"] = status
    return SubscriberAccountInput.model_validate(document)


@app.command("list")
def list_subscriber_accounts(
    status: Status = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="Only subscriber accounts in this currency.", show_default=False)
    ] = None,
    after_id: AfterKey = "",
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List subscriber accounts with their accounts, balances and contracts, in id order."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.subscriber_accounts(status=status, currency=currency, after_id=cursor, limit=size),
            after_id,
            limit,
            lambda view: view.id,
        )
    emit_page(output, "subscriber_accounts", found, after, lambda console: render_subscriber_accounts(console, found))


@app.command("show")
def show(subscriber_account_id: SubscriberAccountId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show a subscriber account: status, accounts with their balances, contracts."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.subscriber_account(subscriber_account_id)
    output.emit(view, lambda console: render_subscriber_account(console, view))


@app.command("update")
def update(
    subscriber_account_id: SubscriberAccountId,
    status: Status = None,
    name: Annotated[str | None, typer.Option("--name", help="A new display name.", show_default=False)] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Change a subscriber account's status (e.g. block it) or name."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.update_subscriber_account(subscriber_account_id, SubscriberAccountUpdate(status=status, name=name), actor=actor())
    output.emit(view, lambda console: render_subscriber_account(console, view))


@app.command("update-account")
def update_account(
    account_id: AccountId,
    status: Annotated[AccountStatus | None, typer.Option("--status", help="active, blocked, locked or closed.", show_default=False)] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Change one prepaid or postpaid account's own status: blocked, locked or closed, it refuses charges."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.update_account(account_id, AccountUpdate(status=status), actor=actor())
    output.emit(view, lambda console: render_account(console, view))


@app.command("operations")
def operations(
    account_id: AccountId,
    limit: Annotated[int, typer.Option("--limit", help="At most this many operations.", min=1, max=LIST_PAGE_SIZE_MAX)] = 100,
    after_id: Annotated[int, typer.Option("--after-id", help="Only operations after this one (for paging).", min=0)] = 0,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List an account's operations (opening, debits, accumulations, credits, adjustments), oldest first."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        records = engine.account_operations(account_id, limit=limit, after_id=after_id)
    output.emit(records, lambda console: render_operations(console, account_id, records))


@app.command("adjust")
def adjust(
    account_id: AccountId,
    amount: Annotated[str, typer.Option("--amount", help="Added to the balance: positive credits, negative corrects.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Change an account's balance by an administrative adjustment (audited)."""
    output = Output(json_output)
    with reporting(output):
        adjustment = AdjustmentInput.model_validate({"amount": amount, "reason": reason})
        with open_engine(database_url) as engine:
            view = engine.adjust_balance(account_id, adjustment, actor=actor())
    output.emit(view, lambda console: render_account(console, view))

"""``kopek contracts`` and ``kopek accesses``: charging contracts and the accesses that select them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from kopek.admin.master_data import AccessInput, ContractInput, ContractUpdate
from kopek.cli.options import AfterKey, AfterNumber, DatabaseUrl, Json, PageSize, actor, key_values, open_engine, read_model
from kopek.cli.output import Output, UsageError, emit_page, reporting
from kopek.cli.views import render_accesses, render_contract, render_contracts
from kopek.domain.master import ContractStatus
from kopek.errors import Code, InvalidError
from kopek.paging import page

app = typer.Typer(rich_markup_mode=None, help="Charging contracts: create, list, show, update.", no_args_is_help=True)
accesses_app = typer.Typer(
    rich_markup_mode=None, help="Map a service id and user id to a contract over a validity period.", no_args_is_help=True
)

ContractId = Annotated[str, typer.Argument(help="The contract id.", show_default=False)]
Status = Annotated[ContractStatus | None, typer.Option("--status", help="active, locked or migrating.", show_default=False)]
Items = Annotated[
    list[str] | None,
    typer.Option(
        "--item", help="A contract item as ITEM_ID=CHARGE_PLAN; repeat for several.", metavar="ITEM_ID=CHARGE_PLAN", show_default=False
    ),
]
Roles = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        help="An account role as ROLE=ACCOUNT_ID (e.g. prepaid=alice-prepaid); repeat for several.",
        metavar="ROLE=ACCOUNT",
        show_default=False,
    ),
]
ValidFrom = Annotated[
    str | None, typer.Option("--valid-from", help="ISO 8601 date and time with offset, e.g. 2026-01-01T00:00:00+01:00.", show_default=False)
]
ValidTo = Annotated[str | None, typer.Option("--valid-to", help="ISO 8601 end (exclusive); 'none' for open-ended.", show_default=False)]
ValidAt = Annotated[
    str | None, typer.Option("--valid-at", help="Only those valid at this instant, ISO 8601 (no offset: UTC).", show_default=False)
]
RecordFile = Annotated[
    Path | None, typer.Option("--file", help="Read the record from a YAML or JSON file instead of options.", dir_okay=False)
]


def _items(pairs: list[str] | None) -> list[dict[str, str]]:
    return [{"id": item_id, "charge_plan": plan} for item_id, plan in key_values(pairs, option="--item").items()]


def _refuse_mixed(file: Path | None, *given: object) -> None:
    if file is not None and any(value not in (None, [], False) for value in given):
        raise UsageError(code=Code.REQUEST_INVALID, message="give either --file or the record's options, not both")


@app.command("create")
def create(
    contract_id: Annotated[str | None, typer.Option("--id", help="The new contract's id.", show_default=False)] = None,
    subscriber_account_id: Annotated[
        str | None, typer.Option("--subscriber-account-id", help="Whose contract it is.", show_default=False)
    ] = None,
    valid_from: ValidFrom = None,
    valid_to: ValidTo = None,
    status: Status = None,
    parent_id: Annotated[
        str | None, typer.Option("--parent-id", help="A parent contract whose counters this one uses.", show_default=False)
    ] = None,
    item: Items = None,
    role: Roles = None,
    file: RecordFile = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Create a charging contract: its contract items (charge plans) and who pays for each account role."""
    output = Output(json_output)
    with reporting(output, source=str(file) if file else None):
        _refuse_mixed(file, contract_id, subscriber_account_id, valid_from, valid_to, status, parent_id, item, role)
        if file is not None:
            record = read_model(file, ContractInput, what="the contract")
        else:
            document: dict[str, Any] = {
                "id": contract_id,
                "subscriber_account_id": subscriber_account_id,
                "valid_from": valid_from,
                "valid_to": _open_end(valid_to),
                "parent_id": parent_id,
                "items": _items(item),
                "roles": key_values(role, option="--role"),
            }
            if status is not None:
                document["status"] = status
            record = ContractInput.model_validate(document)
        with open_engine(database_url) as engine:
            view = engine.create_contract(record, actor=actor())
    output.emit(view, lambda console: render_contract(console, view))


def _open_end(text: str | None) -> str | None:
    return None if text is None or text.strip().lower() in {"none", "open", ""} else text


@app.command("list")
def list_contracts(
    subscriber_account_id: Annotated[
        str | None, typer.Option("--subscriber-account", help="Only this subscriber account's contracts.", show_default=False)
    ] = None,
    status: Status = None,
    charge_plan: Annotated[
        str | None, typer.Option("--charge-plan", help="Only contracts with an item activating this plan.", show_default=False)
    ] = None,
    account_id: Annotated[
        str | None, typer.Option("--account", help="Only contracts whose roles name this account (what it pays for).", show_default=False)
    ] = None,
    parent_id: Annotated[str | None, typer.Option("--parent", help="Only contracts linked to this parent.", show_default=False)] = None,
    valid_at: ValidAt = None,
    after_id: AfterKey = "",
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List contracts with their items and roles, in id order; filters combine."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        moment = _instant(valid_at)
        found, after = page(
            lambda cursor, size: engine.contracts(
                subscriber_account_id=subscriber_account_id, status=status, charge_plan=charge_plan, account_id=account_id,
                parent_id=parent_id, valid_at=moment, after_id=cursor, limit=size,
            ),
            after_id,
            limit,
            lambda view: view.id,
        )  # fmt: skip
    emit_page(output, "contracts", found, after, lambda console: render_contracts(console, found))


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"--valid-at: {text!r} is not an ISO 8601 date and time") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@app.command("show")
def show(contract_id: ContractId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Show a contract: validity, contract items, account roles, accesses and counters."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        view = engine.contract(contract_id)
    output.emit(view, lambda console: render_contract(console, view))


@app.command("update")
def update(
    contract_id: ContractId,
    valid_to: ValidTo = None,
    status: Status = None,
    item: Items = None,
    role: Roles = None,
    file: RecordFile = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Change a contract's end, status, items (--item replaces them all) or account roles (--role replaces them all)."""
    output = Output(json_output)
    with reporting(output, source=str(file) if file else None):
        _refuse_mixed(file, valid_to, status, item, role)
        if file is not None:
            change = read_model(file, ContractUpdate, what="the contract update")
        else:
            document: dict[str, Any] = {}
            if valid_to is not None:
                document["valid_to"] = _open_end(valid_to)
            if status is not None:
                document["status"] = status
            if item:
                document["items"] = _items(item)
            if role:
                document["roles"] = key_values(role, option="--role")
            change = ContractUpdate.model_validate(document)
        with open_engine(database_url) as engine:
            view = engine.update_contract(contract_id, change, actor=actor())
    output.emit(view, lambda console: render_contract(console, view))


@accesses_app.command("create")
def create_access(
    service_id: Annotated[str | None, typer.Option("--service-id", help="The service, e.g. mobile.", show_default=False)] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="The user, e.g. a phone number.", show_default=False)] = None,
    contract_id: Annotated[str | None, typer.Option("--contract-id", help="The contract the access selects.", show_default=False)] = None,
    valid_from: ValidFrom = None,
    valid_to: ValidTo = None,
    file: RecordFile = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Create an access: from its start, items of this service id and user id charge this contract."""
    output = Output(json_output)
    with reporting(output, source=str(file) if file else None):
        _refuse_mixed(file, service_id, user_id, contract_id, valid_from, valid_to)
        if file is not None:
            record = read_model(file, AccessInput, what="the access")
        else:
            record = AccessInput.model_validate(
                {
                    "service_id": service_id,
                    "user_id": user_id,
                    "contract_id": contract_id,
                    "valid_from": valid_from,
                    "valid_to": _open_end(valid_to),
                }
            )
        with open_engine(database_url) as engine:
            view = engine.create_access(record, actor=actor())
    output.emit(view, lambda console: render_accesses(console, [view]))


@accesses_app.command("list")
def list_accesses(
    service_id: Annotated[str | None, typer.Option("--service-id", help="Only the accesses of this service.", show_default=False)] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="Only the accesses of this user.", show_default=False)] = None,
    contract_id: Annotated[
        str | None, typer.Option("--contract-id", help="Only the accesses to this contract.", show_default=False)
    ] = None,
    valid_at: ValidAt = None,
    after_id: AfterNumber = 0,
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List accesses over all their periods, in id order: of a service id and user id, of a contract; filters combine."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        moment = _instant(valid_at)
        found, after = page(
            lambda cursor, size: engine.accesses(
                service_id, user_id, contract_id=contract_id, valid_at=moment, after_id=cursor, limit=size
            ),
            after_id,
            limit,
            lambda view: view.id,
        )
    emit_page(output, "accesses", found, after, lambda console: render_accesses(console, found))

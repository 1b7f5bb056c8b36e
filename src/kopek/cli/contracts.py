"""``kopek contracts`` and ``kopek accesses``: charging contracts and the accesses that select them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kopek.admin.master_data import AccessInput, ContractInput, ContractUpdate
from kopek.cli.options import DatabaseUrl, Json, actor, key_values, open_engine, read_model
from kopek.cli.output import Output, reporting
from kopek.cli.views import render_accesses, render_contract
from kopek.domain.master import ContractStatus
from kopek.errors import Code, InvalidError

app = typer.Typer(help="Create, show and update charging contracts.", no_args_is_help=True)
accesses_app = typer.Typer(help="Map a service id and user id to a contract over a validity period.", no_args_is_help=True)

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
RecordFile = Annotated[
    Path | None, typer.Option("--file", help="Read the record from a YAML or JSON file instead of options.", dir_okay=False)
]


def _items(pairs: list[str] | None) -> list[dict[str, str]]:
    return [{"id": item_id, "charge_plan": plan} for item_id, plan in key_values(pairs, option="--item").items()]


def _refuse_mixed(file: Path | None, *given: object) -> None:
    if file is not None and any(value not in (None, [], False) for value in given):
        raise InvalidError(code=Code.REQUEST_INVALID, message="give either --file or the record's options, not both")


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
    service_id: Annotated[
        str | None, typer.Option("--service-id", help="With --user-id: the accesses of this service and user.", show_default=False)
    ] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="With --service-id.", show_default=False)] = None,
    contract_id: Annotated[str | None, typer.Option("--contract-id", help="Or: the accesses to this contract.", show_default=False)] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List the accesses of a service id and user id, or those of a contract."""
    output = Output(json_output)
    with reporting(output):
        by_user = service_id is not None or user_id is not None
        if by_user == (contract_id is not None) or (by_user and (service_id is None or user_id is None)):
            raise InvalidError(code=Code.REQUEST_INVALID, message="give either --service-id and --user-id, or --contract-id")
        with open_engine(database_url) as engine:
            if contract_id is not None:
                views = engine.contract(contract_id).accesses
            else:
                assert service_id is not None and user_id is not None
                views = engine.accesses(service_id, user_id)
    output.emit(views, lambda console: render_accesses(console, views))

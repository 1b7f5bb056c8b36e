"""``kopek api-keys``: create, list and revoke the API keys of the HTTP API (docs/security.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kopek.admin.api_keys import ApiKeyRole, ApiKeyView
from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, cell, reporting, table

app = typer.Typer(rich_markup_mode=None, help="API keys with roles (read, charging, admin) for the HTTP API.", no_args_is_help=True)

KeyName = Annotated[str, typer.Argument(help="The key's name, e.g. the system that uses it.", show_default=False)]


@app.command("create")
def create(
    name: KeyName,
    role: Annotated[ApiKeyRole, typer.Option("--role", help="read, charging or admin.", show_default=False)],
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Create an API key; its secret is printed this once and kept nowhere."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        created = engine.create_api_key(name, role, actor=actor())

    def render(console: Console) -> None:
        console.print(f"API key [bold]{created.name}[/bold] ({created.role}) created. Its secret, shown only now:")
        console.print(created.secret, markup=False, highlight=False)

    output.emit(created, render)


@app.command("list")
def list_keys(database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """List the API keys (never their secrets)."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        keys = engine.api_keys()
    output.emit({"api_keys": keys}, lambda console: console.print(_table(keys)))


LAST_KEY_WARNING = (
    "warning: no active API key is left. A server started on a loopback address or with --no-auth now answers "
    "anyone who reaches it; one started with keys on another address refuses every request until a key is created."
)


@app.command("revoke")
def revoke(
    name: KeyName,
    force: Annotated[bool, typer.Option("--force", help="Revoke even the last active key (see docs/security.md).")] = False,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Revoke an API key: requests with it are refused from now on. The last active key needs --force."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        engine.revoke_api_key(name, actor=actor(), force=force)
        none_left = not engine.authenticate(None).keys_in_use
    if none_left:
        Output.console(stderr=True).print(LAST_KEY_WARNING, style="bold yellow", markup=False)
    output.emit({"revoked": name, "active_keys_left": not none_left}, lambda console: console.print(f"API key {name} revoked."))


def _table(keys: list[ApiKeyView]) -> Table:
    listing = table("API keys", "name", "role", "id", "created", "revoked")
    for key in keys:
        listing.add_row(cell(key.name), cell(key.role.value), cell(key.id), cell(key.created_at), cell(key.revoked_at))
    return listing

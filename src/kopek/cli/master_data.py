"""``kopek master-data``: bulk loading of subscriber accounts, contracts and accesses."""

from __future__ import annotations

import typer

from kopek.admin.master_data import MasterDataDocument
from kopek.cli.options import DatabaseUrl, InputFile, Json, actor, open_engine, read_model
from kopek.cli.output import Output, reporting

app = typer.Typer(rich_markup_mode=None, help="Load master data in bulk.", no_args_is_help=True)


@app.command("load")
def load(file: InputFile, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Create every subscriber account, contract and access of a YAML or JSON file, all or nothing.

    The file has three lists, created in this order: subscriber_accounts (with their
    accounts), contracts, accesses. Any fault undoes the whole load.
    """
    output = Output(json_output)
    source = str(file)
    with reporting(output, source=source):
        document = read_model(file, MasterDataDocument, what="the master data file")
        with open_engine(database_url) as engine:
            counts = engine.load_master_data(document, actor=actor())
    output.emit(
        {"source": source, **counts},
        lambda console: console.print(
            f"Loaded {source}: {counts['subscriber_accounts']} subscriber account(s), "
            f"{counts['contracts']} contract(s), {counts['accesses']} access(es)",
            style="green",
            markup=False,
        ),
    )

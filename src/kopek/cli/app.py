"""The ``kopek`` command: ``kopek <noun> <verb>``, wired from the command modules.

Commands open the database by URL (``--database-url``, else ``KOPEK_DATABASE_URL``,
else the SQLite file ``kopek.db`` in the working folder) and create and migrate it
on first use. Every command has ``--help``; those that print take ``--json``.
Errors exit 1 and print the structured error on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kopek import __version__
from kopek.cli import (
    accounts,
    api_keys,
    catalog,
    cdrs,
    charging,
    contract_states,
    contracts,
    demo,
    fees,
    items,
    ledger,
    master_data,
    notifications,
    rating_jobs,
    refills,
    sessions,
)
from kopek.cli.options import DatabaseUrl, Json, open_engine, shown_url
from kopek.cli.output import Output, reporting
from kopek.notify import publisher

app = typer.Typer(
    name="kopek",
    help="kopek, an open convergent charging engine: catalog, master data, charging, demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)
app.add_typer(catalog.app, name="catalog")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(master_data.app, name="master-data")
app.add_typer(accounts.app, name="accounts")
app.add_typer(contracts.app, name="contracts")
app.add_typer(contracts.accesses_app, name="accesses")
app.add_typer(contract_states.app, name="contract-states")
app.add_typer(contract_states.migration_app, name="migration")
app.add_typer(sessions.app, name="sessions")
app.add_typer(cdrs.app, name="cdrs")
app.add_typer(rating_jobs.jobs_app, name="jobs")
app.add_typer(items.app, name="items")
app.add_typer(fees.app, name="fees")
app.add_typer(notifications.app, name="notifications")
app.add_typer(ledger.app, name="ledger")
app.command("charge")(charging.charge)
app.command("refill")(refills.refill)
app.command("demo")(demo.demo)
app.command("rate")(rating_jobs.rate)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kopek {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print kopek's version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """kopek, an open convergent charging engine: catalog, master data, charging, demo."""


@app.command("init")
def init(database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Create the database if needed and bring its schema up to date; print its URL."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        url = shown_url(engine.url)
    output.emit({"database_url": url}, lambda console: console.print(f"Database ready: {url}", style="green", markup=False))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    cleanup_interval_seconds: Annotated[
        float, typer.Option("--cleanup-interval-seconds", help="Clean up expired charging sessions this often; 0 disables.", min=0)
    ] = 10,
    item_files_dir: Annotated[
        Path, typer.Option("--item-files-dir", help="Where POST /v1/item-files:export writes item files.", file_okay=False)
    ] = Path("item-files"),
    nats_url: notifications.NatsUrl = None,
    nats_subject_prefix: notifications.SubjectPrefix = publisher.SUBJECT_PREFIX_DEFAULT,
    nats_stream: notifications.Stream = publisher.STREAM_DEFAULT,
    publish_interval_seconds: notifications.PublishIntervalSeconds = publisher.PUBLISH_INTERVAL_SECONDS_DEFAULT,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the HTTP API (JSON under /v1, OpenAPI at /docs) with uvicorn; with --nats-url, publish notifications to NATS."""
    output = Output()
    with reporting(output):
        # Imported here so that the rest of the CLI works without the web stack loaded.
        import uvicorn

        from kopek.api.app import create_app

        publishing = notifications.publisher_settings(nats_url, nats_subject_prefix, nats_stream, interval_seconds=publish_interval_seconds)
        engine = open_engine(database_url)
        try:
            api = create_app(
                engine,
                cleanup_interval_seconds=cleanup_interval_seconds,
                item_files_directory=item_files_dir,
                notification_publishing=publishing,
            )
            uvicorn.run(api, host=host, port=port, log_level=log_level)
        finally:
            engine.close()


def main() -> None:
    """Entry point of the ``kopek`` console script."""
    app()

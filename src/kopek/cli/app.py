"""The ``kopek`` command: ``kopek <noun> <verb>``, wired from the command modules.

Commands open the database by URL (``--database-url``, else ``KOPEK_DATABASE_URL``,
else the SQLite file ``kopek.db`` in the working folder) and create and migrate it
on first use. Every command has ``--help``; those that print take ``--json``.
Errors exit 1 and print the structured error on stderr.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kopek import __version__
from kopek.cli import (
    accounts,
    api_keys,
    audit,
    catalog,
    cdrs,
    charging,
    contract_states,
    contracts,
    demo,
    diameter,
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
from kopek.engine import Engine
from kopek.errors import Code, IllegalStateError, Reason
from kopek.notify import publisher
from kopek.protocols import NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


app = typer.Typer(
    name="kopek",
    help="kopek, an open convergent charging engine: catalog, master data, charging, demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)
app.add_typer(catalog.app, name="catalog")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(audit.app, name="audit")
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
app.add_typer(diameter.app, name="diameter")
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
    port: Annotated[int, typer.Option("--port", help="Port to listen on (HTTP/1.1 and cleartext HTTP/2).", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes, each with its own database connections.", min=1)] = 1,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="Server log level.")] = LogLevel.INFO,
    cleanup_interval_seconds: Annotated[
        float, typer.Option("--cleanup-interval-seconds", help="Clean up expired charging sessions this often; 0 disables.", min=0)
    ] = 10,
    item_files_dir: Annotated[
        Path, typer.Option("--item-files-dir", help="Where POST /v1/item-files:export writes item files.", file_okay=False)
    ] = Path("item-files"),
    protocol_mapping: Annotated[
        Path | None,
        typer.Option(
            "--protocol-mapping",
            help="A protocol mapping file (docs/protocols.md): serve Nchf_ConvergedCharging v3 under /nchf-convergedcharging/v3.",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    nchf_notify_interval_seconds: Annotated[
        float,
        typer.Option(
            "--nchf-notify-interval-seconds", help="Send ChargingNotify re-authorizations after refills this often; 0 disables.", min=0
        ),
    ] = NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT,
    nats_url: notifications.NatsUrl = None,
    nats_subject_prefix: notifications.SubjectPrefix = publisher.SUBJECT_PREFIX_DEFAULT,
    nats_stream: notifications.Stream = publisher.STREAM_DEFAULT,
    publish_interval_seconds: notifications.PublishIntervalSeconds = publisher.PUBLISH_INTERVAL_SECONDS_DEFAULT,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="While no API key exists, serve open to anyone who reaches the address, even one that is not loopback.",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Serve the HTTP API (JSON under /v1, OpenAPI at /v1/docs) over HTTP/1.1 and h2c; with --protocol-mapping, also
    Nchf_ConvergedCharging; with --nats-url, publish notifications to NATS.

    Without any API key it serves only on a loopback address, or with --no-auth (docs/security.md).
    """
    output = Output(json_output)
    with reporting(output):
        # Imported here so that the rest of the CLI works without the web stack loaded.
        from kopek.api.serving import PublishingSettings, ServeSettings
        from kopek.api.serving import serve as serve_http
        from kopek.protocols.mapping import read_mapping

        publishing = notifications.publisher_settings(nats_url, nats_subject_prefix, nats_stream, interval_seconds=publish_interval_seconds)
        if protocol_mapping is not None:
            read_mapping(protocol_mapping)  # refuse a faulty file before any worker starts
        # Create and migrate the database once, before the workers open it; decide whether it may serve open.
        with open_engine(database_url) as engine:
            open_without_keys = serving_policy(engine, host, no_auth=no_auth)
        settings = ServeSettings(
            database_url=database_url,
            cleanup_interval_seconds=cleanup_interval_seconds,
            item_files_directory=item_files_dir,
            publishing=PublishingSettings(
                nats_url=publishing.nats_url,
                subject_prefix=publishing.subject_prefix,
                stream=publishing.stream,
                interval_seconds=publishing.interval_seconds,
            )
            if publishing is not None
            else None,
            protocol_mapping=protocol_mapping.resolve() if protocol_mapping is not None else None,
            nchf_notify_interval_seconds=nchf_notify_interval_seconds,
            open_without_keys=open_without_keys,
        )
        serve_http(settings, host=host, port=port, workers=workers, log_level=log_level.value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reached from this machine only: ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serving_policy(engine: Engine, host: str, *, no_auth: bool) -> bool:
    """Whether the server may answer everyone while no API key exists; says on stderr how it serves.

    Without a key it serves open on a loopback address or with ``--no-auth``, and refuses to start
    otherwise. With keys on another address it never serves open, even once the last key is revoked.
    """
    console = Output.console(stderr=True)
    loopback = is_loopback(host)
    if engine.authenticate(None).keys_in_use:
        console.print("API keys in use: every request but /healthz and /metrics needs an active key.", markup=False)
        return loopback or no_auth
    if no_auth:
        console.print(
            f"kopek serves WITHOUT authentication on {host} (--no-auth): while no API key exists, anyone who reaches it "
            "may do anything, administration included.",
            style="bold yellow",
            markup=False,
        )
        return True
    if loopback:
        console.print(
            f"No API key exists: the API is open to this machine only ({host}). Create a key with 'kopek api-keys create' "
            "before serving on another address.",
            markup=False,
        )
        return True
    raise IllegalStateError(
        code=Code.NO_API_KEY_FOR_PUBLIC_ADDRESS,
        reason=Reason.NOT_AUTHORIZED,
        message=f"no API key exists, and {host} is not a loopback address: anyone reaching it could do anything. "
        "Create a key with 'kopek api-keys create', serve on 127.0.0.1, or pass --no-auth to serve open on purpose",
    )


def main() -> None:
    """Entry point of the ``kopek`` console script."""
    app()

"""``kopek serve``: the HTTP API (and, with a mapping file, Nchf_ConvergedCharging) on Granian; who it serves while no API key exists."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kopek.api.logs import LogFormat
from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT
from kopek.cli import notifications
from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, reporting
from kopek.engine import Engine
from kopek.errors import Code, IllegalStateError, Reason
from kopek.limits import SESSION_RETENTION_SECONDS_MAX
from kopek.notify import publisher
from kopek.protocols import NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (HTTP/1.1 and cleartext HTTP/2).", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes, each with its own database connections.", min=1)] = 1,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="Server log level.")] = LogLevel.INFO,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            help="text, or json: one JSON object per line on stderr, a line per request with its request id, route, status, "
            "outcome and duration.",
        ),
    ] = LogFormat.TEXT,
    cleanup_interval_seconds: Annotated[
        float,
        typer.Option(
            "--cleanup-interval-seconds",
            help="Clean up charging sessions this often (end the expired ones, remove the long ended ones) and prune the counter "
            "journal past the retention window of restoration points; 0 disables.",
            min=0,
        ),
    ] = 10,
    session_retention_seconds: Annotated[
        int,
        typer.Option(
            "--session-retention-seconds",
            help="Remove a session this long after it ended (stopped, cancelled, expired).",
            min=0,
            max=SESSION_RETENTION_SECONDS_MAX,
        ),
    ] = SESSION_RETENTION_SECONDS_DEFAULT,
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
    """Serve the HTTP API over HTTP/1.1 and h2c: JSON under /v1, the OpenAPI document at /v1/openapi.json, Swagger UI at
    /v1/docs, ReDoc at /v1/redoc, Prometheus metrics at /metrics; with --protocol-mapping, also Nchf_ConvergedCharging;
    with --nats-url, publish notifications to NATS.

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
            session_retention_seconds=session_retention_seconds,
            log_format=log_format,
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

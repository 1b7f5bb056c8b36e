"""``kopek notifications``: list the stored business notifications; publish the outbox to NATS once (for cron).

The NATS options are shared with ``kopek serve``, whose ``--nats-url`` runs the same
publisher in the background (docs/notifications.md).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kopek.cli.options import AfterNumber, DatabaseUrl, Json, PageSize, open_engine
from kopek.cli.output import Output, UsageError, cell, emit_page, reporting, table
from kopek.errors import Code
from kopek.limits import NOTIFICATION_PUBLISH_BATCH_MAX
from kopek.notify.documents import ListedNotification
from kopek.notify.publisher import (
    NATS_URL_VARIABLE,
    PUBLISH_BATCH_DEFAULT,
    PUBLISH_INTERVAL_SECONDS_DEFAULT,
    STREAM_DEFAULT,
    SUBJECT_PREFIX_DEFAULT,
    PublisherSettings,
    PublishReport,
)
from kopek.paging import page
from kopek.rating.outcome import NotificationKind

app = typer.Typer(
    rich_markup_mode=None, help="Business notifications: list what charging stored; publish it to NATS JetStream.", no_args_is_help=True
)

NatsUrl = Annotated[
    str | None,
    typer.Option("--nats-url", envvar=NATS_URL_VARIABLE, help="NATS server URL, e.g. nats://127.0.0.1:4222.", show_default=False),
]
SubjectPrefix = Annotated[
    str, typer.Option("--nats-subject-prefix", help="Notifications go to PREFIX.<kind>; the stream captures PREFIX.>.")
]
Stream = Annotated[str, typer.Option("--nats-stream", help="The JetStream stream, created when missing.")]
PublishIntervalSeconds = Annotated[
    float, typer.Option("--publish-interval-seconds", help="With --nats-url: publish stored notifications this often.", min=0.01)
]


def publisher_settings(
    nats_url: str | None,
    subject_prefix: str = SUBJECT_PREFIX_DEFAULT,
    stream: str = STREAM_DEFAULT,
    *,
    batch_size: int = PUBLISH_BATCH_DEFAULT,
    interval_seconds: float = PUBLISH_INTERVAL_SECONDS_DEFAULT,
) -> PublisherSettings | None:
    """The publisher's settings from the options; none without a NATS URL."""
    if not nats_url:
        return None
    return PublisherSettings(nats_url, subject_prefix, stream, batch_size=batch_size, interval_seconds=interval_seconds)


@app.command("list")
def list_notifications(
    contract_id: Annotated[str | None, typer.Option("--contract", help="Only this contract's notifications.", show_default=False)] = None,
    kind: Annotated[NotificationKind | None, typer.Option("--kind", help="Only notifications of this kind.", show_default=False)] = None,
    after_id: AfterNumber = 0,
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List stored notifications, oldest first."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.notifications(contract_id=contract_id, kind=kind, after_id=cursor, limit=size),
            after_id,
            limit,
            lambda note: note.id,
        )
    emit_page(output, "notifications", found, after, lambda console: render_notifications(console, found))


@app.command("publish")
def publish(
    nats_url: NatsUrl = None,
    subject_prefix: SubjectPrefix = SUBJECT_PREFIX_DEFAULT,
    stream: Stream = STREAM_DEFAULT,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Notifications published and marked together.", min=1, max=NOTIFICATION_PUBLISH_BATCH_MAX)
    ] = PUBLISH_BATCH_DEFAULT,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Publish the stored notifications not yet published to NATS JetStream, once (e.g. from cron)."""
    output = Output(json_output)
    with reporting(output):
        settings = publisher_settings(nats_url, subject_prefix, stream, batch_size=batch_size)
        if settings is None:
            raise UsageError(code=Code.REQUEST_INVALID, message=f"--nats-url (or {NATS_URL_VARIABLE}) is required")
        with open_engine(database_url) as engine:
            report = engine.publish_notifications(settings)
    output.emit(report_fields(report), lambda console: render_report(console, report, settings))


def report_fields(report: PublishReport) -> dict[str, object]:
    return {"published": report.published, "duplicates": report.duplicates, "more_waiting": report.more_waiting}


def render_report(console: Console, report: PublishReport, settings: PublisherSettings) -> None:
    console.print(
        f"Published {report.published} notification(s) to stream {settings.stream} "
        f"({report.duplicates} already there)" + ("; more are waiting" if report.more_waiting else ""),
        markup=False,
    )


def render_notifications(console: Console, found: list[ListedNotification]) -> None:
    shown = table("Notifications", ">id", "kind", "contract", "operation", "created", "published", "message")
    for note in found:
        shown.add_row(
            cell(note.id),
            cell(note.kind.value),
            cell(note.contract_id),
            cell(note.operation_id),
            cell(note.created_at),
            cell(note.published_at),
            cell(note.message),
        )
    console.print(shown)

"""Publishing the outbox to NATS JetStream: at least once to the server, once through its dedupe.

A pass connects, makes sure the stream exists, then repeats a step: read the oldest
unpublished notifications (a bounded batch), publish each to ``<prefix>.<kind>`` with the
header ``Nats-Msg-Id`` set to the notification's stable id and wait for its
acknowledgement, then mark the acknowledged ones published in one commit. A crash between
the acknowledgement and the commit publishes them again on the next pass, and JetStream
drops the second copy inside its duplicate window. Charging never waits for any of this.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from kopek import limits
from kopek.errors import Code, InvalidError, TemporaryIllegalStateError
from kopek.notify.documents import ListedNotification, published_document
from kopek.notify.outbox import NotificationOutbox
from kopek.threads import in_thread_to_the_end

logger = logging.getLogger("kopek.notify")


NATS_URL_VARIABLE = "KOPEK_NATS_URL"
SUBJECT_PREFIX_DEFAULT = "kopek.notifications"
STREAM_DEFAULT = "KOPEK_NOTIFICATIONS"
PUBLISH_BATCH_DEFAULT = 100
PUBLISH_INTERVAL_SECONDS_DEFAULT = 5.0
BROKER_TIMEOUT_SECONDS = 5.0
DUPLICATE_WINDOW_SECONDS = 120.0
"""The duplicate window of a stream the publisher creates (JetStream's own default): a
republish after a crash is dropped when it comes within this time of the first copy."""
BROKER_RETRY_AFTER_SECONDS = 5
MESSAGE_ID_HEADER = "Nats-Msg-Id"

_SUBJECT_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]+")
_BROKER_FAULTS = (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class PublisherSettings:
    """Where and how notifications are published; checked when built."""

    nats_url: str
    subject_prefix: str = SUBJECT_PREFIX_DEFAULT
    stream: str = STREAM_DEFAULT
    batch_size: int = PUBLISH_BATCH_DEFAULT
    interval_seconds: float = PUBLISH_INTERVAL_SECONDS_DEFAULT

    def __post_init__(self) -> None:
        _check_name(self.subject_prefix, _SUBJECT_PREFIX, "the NATS subject prefix", "dot-separated tokens of letters, digits, _ and -")
        _check_name(self.stream, _STREAM_NAME, "the JetStream stream name", "letters, digits, _ and -")
        if not 1 <= self.batch_size <= limits.NOTIFICATION_PUBLISH_BATCH_MAX:
            raise InvalidError(
                code=Code.LIMIT_EXCEEDED,
                message=f"a publishing batch holds 1 to {limits.NOTIFICATION_PUBLISH_BATCH_MAX} notifications, not {self.batch_size}",
            )
        if not self.interval_seconds > 0:
            raise InvalidError(code=Code.REQUEST_INVALID, message=f"the publishing interval must be positive, not {self.interval_seconds}")

    def subject(self, kind: str) -> str:
        """The subject a notification of ``kind`` is published to."""
        return f"{self.subject_prefix}.{kind}"

    @property
    def stream_subjects(self) -> str:
        """The subjects the stream captures: every kind under the prefix."""
        return f"{self.subject_prefix}.>"


def _check_name(value: str, pattern: re.Pattern[str], what: str, allowed: str) -> None:
    if len(value) > limits.NATS_NAME_CHARS_MAX:
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"{what} is longer than {limits.NATS_NAME_CHARS_MAX} characters")
    if pattern.fullmatch(value) is None:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"{what} {value!r} is not valid: use {allowed}")


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What one pass did: notifications acknowledged (``duplicates`` of them dropped by JetStream
    as already stored) and whether more were waiting when the pass reached its bound."""

    published: int = 0
    duplicates: int = 0
    more_waiting: bool = False


def message_id(notification: ListedNotification) -> str:
    """The stable id JetStream deduplicates on: the stored id, with the operation that raised it."""
    return f"kopek-notification-{notification.id}-{notification.operation_id or 'none'}"


async def publish_pending(outbox: NotificationOutbox, settings: PublisherSettings) -> PublishReport:
    """One pass: publish unpublished notifications in id order, in bounded batches.

    Raises ``TEMPORARY_ILLEGAL_STATE`` / ``notification_broker_unreachable`` when NATS cannot
    be reached or does not acknowledge in time; what was acknowledged before is marked.
    """
    batch = await in_thread_to_the_end(outbox.pending, settings.batch_size)
    if not batch:
        return PublishReport()
    try:
        async with _jetstream(settings) as jetstream:
            await ensure_stream(jetstream, settings)
            return await _drain(jetstream, outbox, settings, batch)
    except _BROKER_FAULTS as fault:
        raise TemporaryIllegalStateError(
            code=Code.NOTIFICATION_BROKER_UNREACHABLE,
            message=f"NATS at {settings.nats_url} did not take the notifications: {fault!r}; they stay in the outbox",
            retry_after_seconds=BROKER_RETRY_AFTER_SECONDS,
        ) from fault


async def _drain(
    jetstream: JetStreamContext, outbox: NotificationOutbox, settings: PublisherSettings, batch: list[ListedNotification]
) -> PublishReport:
    published = duplicates = 0
    for _ in range(limits.NOTIFICATION_PUBLISH_BATCHES_PER_PASS_MAX):
        acknowledged, doubles = await _publish_batch(jetstream, outbox, settings, batch)
        published, duplicates = published + acknowledged, duplicates + doubles
        if len(batch) < settings.batch_size:
            return PublishReport(published, duplicates)
        batch = await in_thread_to_the_end(outbox.pending, settings.batch_size)
        if not batch:
            return PublishReport(published, duplicates)
    return PublishReport(published, duplicates, more_waiting=True)


async def _publish_batch(
    jetstream: JetStreamContext, outbox: NotificationOutbox, settings: PublisherSettings, batch: Sequence[ListedNotification]
) -> tuple[int, int]:
    """Publish ``batch`` one by one, waiting for each acknowledgement; mark what was acknowledged
    (also when a later one fails, so that only the rest goes out again)."""
    acknowledged: list[int] = []
    duplicates = 0
    try:
        for notification in batch:
            ack = await jetstream.publish(
                settings.subject(notification.kind.value),
                published_document(notification).model_dump_json().encode(),
                timeout=BROKER_TIMEOUT_SECONDS,
                stream=settings.stream,
                headers={MESSAGE_ID_HEADER: message_id(notification)},
            )
            acknowledged.append(notification.id)
            duplicates += 1 if ack.duplicate else 0
    finally:
        await in_thread_to_the_end(outbox.mark_published, acknowledged)
    return len(acknowledged), duplicates


async def ensure_stream(jetstream: JetStreamContext, settings: PublisherSettings) -> None:
    """Create the stream when it is missing; add the prefix's subjects when it lacks them."""
    try:
        info = await jetstream.stream_info(settings.stream)
    except nats.js.errors.NotFoundError:
        await jetstream.add_stream(name=settings.stream, subjects=[settings.stream_subjects], duplicate_window=DUPLICATE_WINDOW_SECONDS)
        logger.info("created JetStream stream %s for %s", settings.stream, settings.stream_subjects)
        return
    subjects = list(info.config.subjects or [])
    if settings.stream_subjects not in subjects:
        await jetstream.update_stream(info.config, subjects=[*subjects, settings.stream_subjects])
        logger.info("JetStream stream %s now also captures %s", settings.stream, settings.stream_subjects)


@asynccontextmanager
async def _jetstream(settings: PublisherSettings) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on a connection of its own, closed afterwards; one attempt to connect."""
    # No reconnection loop: a pass that cannot connect fails at once and the next pass tries again.
    client = await nats.connect(
        settings.nats_url,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0,
        connect_timeout=int(BROKER_TIMEOUT_SECONDS),
        error_cb=_broker_error,
        name="kopek-notifications",
    )
    try:
        yield client.jetstream(timeout=BROKER_TIMEOUT_SECONDS)
    finally:
        await client.close()


async def _broker_error(fault: Exception) -> None:
    # The pass reports its failure once; the client's own reports are detail.
    logger.debug("NATS client: %r", fault)

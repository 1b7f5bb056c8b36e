"""The notification publisher inside ``kopek serve``: a background task of the app's lifespan.

Every ``interval_seconds`` it runs one publishing pass (:mod:`kopek.notify.publisher`).
When NATS is away the pass fails, is logged, and the next one tries again; charging
goes on meanwhile and its notifications wait in the outbox. Several server processes
may publish at once: JetStream drops the copies by their message id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from kopek.api.background import Lifespan, with_loop
from kopek.errors import KopekError
from kopek.notify.outbox import NotificationOutbox
from kopek.notify.publisher import PublisherSettings, publish_pending

logger = logging.getLogger("kopek.api")


Published = Callable[[int], None]
"""Told how many notifications each pass published (for the metrics)."""


def publishing_lifespan(
    inner: Lifespan, outbox: NotificationOutbox, settings: PublisherSettings | None, *, observe: Published | None = None
) -> Lifespan:
    """``inner`` with the notification publisher running beside it (``settings`` none: not at all)."""
    return with_loop(partial(_every, outbox, settings, observe) if settings is not None else None, inner)


async def _every(outbox: NotificationOutbox, settings: PublisherSettings, observe: Published | None) -> None:
    while True:
        try:
            report = await publish_pending(outbox, settings)
        except KopekError as error:
            logger.warning("notification publishing failed, retrying in %s s: %s", settings.interval_seconds, error.message)
        except Exception:
            logger.exception("notification publishing failed")
        else:
            if observe is not None:
                observe(report.published)
            if report.published:
                logger.info("published %d notification(s) to %s", report.published, settings.stream)
            if report.more_waiting:
                continue
        await asyncio.sleep(settings.interval_seconds)

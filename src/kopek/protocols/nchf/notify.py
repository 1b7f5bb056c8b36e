"""Re-authorization after a refill: ``ChargingNotify`` (notificationType ``REAUTHORIZATION``) to the consumer.

A rating group whose last grant was final (the money ran short) waits for a refill. The refill
stores a ``refill_applied`` notification in its own transaction; a notify pass, run by
``kopek serve`` beside the app and never inside a charge's transaction, finds the rating groups
of open charging data whose contract was refilled after their final grant, sends one
``ChargingNotifyRequest`` per charging data resource to its ``notifyUri``, and marks them
notified once the consumer answered 2xx. A failed send is retried by the next pass (at least once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import httpx

from kopek import limits
from kopek.api.background import Lifespan, with_loop
from kopek.engine import Engine
from kopek.protocols.nchf import models
from kopek.protocols.nchf.charging_data import PROTOCOL
from kopek.store.uow import UnitOfWork
from kopek.threads import in_thread_to_the_end

logger = logging.getLogger("kopek.protocols")


@dataclass(frozen=True, slots=True)
class Reauthorization:
    """The rating groups of one charging data resource to re-authorize, and where to."""

    reference: str
    notify_uri: str
    rating_groups: tuple[int, ...]


@dataclass(slots=True)
class NotifyReport:
    notified: list[Reauthorization] = field(default_factory=list)
    failed: list[Reauthorization] = field(default_factory=list)


def due_reauthorizations(engine: Engine) -> list[Reauthorization]:
    with UnitOfWork(engine.database, writes=False) as uow:
        rows = uow.protocols.reauthorizations_due(PROTOCOL, limit=limits.NCHF_NOTIFY_BATCH_MAX)
    grouped: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        grouped.setdefault((row["session"], row["notify_uri"]), []).append(int(row["rating_group"]))
    return [Reauthorization(reference, uri, tuple(groups)) for (reference, uri), groups in grouped.items()]


def mark_notified(engine: Engine, done: Reauthorization) -> None:
    with UnitOfWork(engine.database) as uow:
        uow.protocols.mark_notified(PROTOCOL, done.reference, done.rating_groups, at=engine.now())
        uow.commit()


async def send_reauthorizations(engine: Engine, client: httpx.AsyncClient) -> NotifyReport:
    """One pass: notify every due re-authorization; each one the consumer accepted is marked, the others wait."""
    report = NotifyReport()
    for due in await in_thread_to_the_end(due_reauthorizations, engine):
        body = models.ChargingNotifyRequest(
            notificationType=models.NotificationType.REAUTHORIZATION,
            reauthorizationDetails=[models.ReauthorizationDetails(ratingGroup=group) for group in due.rating_groups],
        )
        try:
            answer = await client.post(due.notify_uri, json=body.model_dump(mode="json", exclude_none=True))
        except httpx.HTTPError as error:
            logger.warning("ChargingNotify to %s for %s failed: %s", due.notify_uri, due.reference, error)
            report.failed.append(due)
            continue
        if not answer.is_success:
            logger.warning("ChargingNotify to %s for %s answered %s", due.notify_uri, due.reference, answer.status_code)
            report.failed.append(due)
            continue
        await in_thread_to_the_end(mark_notified, engine, due)
        report.notified.append(due)
    return report


def notify_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=limits.NCHF_NOTIFY_TIMEOUT_SECONDS)


def notify_lifespan(
    inner: Lifespan, engine: Engine, interval_seconds: float, client: Callable[[], httpx.AsyncClient] = notify_client
) -> Lifespan:
    """``inner`` with a notify pass every ``interval_seconds`` beside it (0: none)."""
    return with_loop(partial(_every, engine, interval_seconds, client) if interval_seconds > 0 else None, inner)


async def _every(engine: Engine, interval_seconds: float, client: Callable[[], httpx.AsyncClient]) -> None:
    async with client() as opened:
        while True:
            try:
                report = await send_reauthorizations(engine, opened)
            except Exception:
                logger.exception("ChargingNotify pass failed")
            else:
                if report.notified:
                    logger.info("sent %d ChargingNotify re-authorization(s)", len(report.notified))
            await asyncio.sleep(interval_seconds)

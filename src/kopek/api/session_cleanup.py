"""The session clean-up inside ``kopek serve``: a background task of the app's lifespan.

Every ``interval_seconds`` it runs one clean-up pass in a worker thread: expired sessions end
with their default resolution, and sessions that ended ``retention_seconds`` ago or more are
removed. Then one bounded pass prunes the counter journal past the retention window of
restoration points (docs/recharging.md, Retention). Several server processes may run it at once
(each session is resolved once, each entry deleted once). A failing pass is logged and the next
one runs on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from kopek.api.background import Lifespan, with_loop
from kopek.charging.session_views import CleanupReport
from kopek.engine import Engine
from kopek.threads import in_thread_to_the_end

logger = logging.getLogger("kopek.api")


CleanupObserver = Callable[[CleanupReport], None]
"""Told each pass's report (the metrics count what it ended and removed)."""


def cleanup_lifespan(
    engine: Engine, interval_seconds: float, *, retention_seconds: int, observe: CleanupObserver | None = None
) -> Lifespan:
    """A lifespan that cleans up sessions every ``interval_seconds`` (0: never)."""
    return with_loop(partial(_every, engine, interval_seconds, retention_seconds, observe) if interval_seconds > 0 else None)


async def _every(engine: Engine, interval_seconds: float, retention_seconds: int, observe: CleanupObserver | None) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            report = await in_thread_to_the_end(engine.cleanup_expired_sessions, retention_seconds=retention_seconds)
        except Exception:
            logger.exception("session clean-up pass failed")
            continue
        if observe is not None:
            observe(report)
        if report.resolved or report.removed:
            logger.info("session clean-up ended %d expired session(s), removed %d ended one(s)", len(report.resolved), report.removed)
        await _prune(engine)


async def _prune(engine: Engine) -> None:
    try:
        pruned = await in_thread_to_the_end(engine.prune_counter_journal)
    except Exception:
        logger.exception("counter journal pruning pass failed")
        return
    if pruned.deleted:
        logger.info("pruned %d counter journal entries recorded before %s", pruned.deleted, pruned.horizon.isoformat())

"""The expiry clean-up inside ``kopek serve``: a background task of the app's lifespan.

Every ``interval_seconds`` it runs one clean-up pass in a worker thread; several
server processes may run it at once (each session is resolved once). A failing pass
is logged and the next one runs on time.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from starlette.concurrency import run_in_threadpool

from kopek.api.background import Lifespan, with_loop
from kopek.engine import Engine

logger = logging.getLogger("kopek.api")


def cleanup_lifespan(engine: Engine, interval_seconds: float) -> Lifespan:
    """A lifespan that cleans up expired sessions every ``interval_seconds`` (0: never)."""
    return with_loop(partial(_every, engine, interval_seconds) if interval_seconds > 0 else None)


async def _every(engine: Engine, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            report = await run_in_threadpool(engine.cleanup_expired_sessions)
        except Exception:
            logger.exception("session clean-up pass failed")
            continue
        if report.resolved:
            logger.info("session clean-up ended %d expired session(s)", len(report.resolved))

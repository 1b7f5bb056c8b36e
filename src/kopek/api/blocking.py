"""The hot routes' blocking work (a charge, a session step) on threads of the app's own, one hop from the event loop.

A plain ``def`` route runs in Starlette's thread pool through anyio, and FastAPI sends the
validation of its answer there too: two hand-offs per request, each a queue, a wake-up of a
thread and one of the loop. The hot routes are ``async def`` and hand their whole blocking work
(the engine's call and building the answer) to :class:`BlockingCalls`, a
:class:`concurrent.futures.ThreadPoolExecutor` reached through ``loop.run_in_executor``: one
hand-off, and the cheapest one asyncio has (docs/performance.md, "Serving").

Threads are as many as the engine's connection pool holds connections, so a burst waits for a
thread rather than for a connection while it holds one. When the app stops, it waits for the
calls in flight before the engine is closed under them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from kopek.api.background import Lifespan, then_blocking

Params = ParamSpec("Params")
Result = TypeVar("Result")

BLOCKING_THREADS = 30
"""Threads for the hot routes' blocking calls: the engine's pool of database connections (10, and 20 more at need)."""


class BlockingCalls:
    """Blocking calls run on a thread pool of the app's own, awaited from the event loop."""

    def __init__(self, threads: int = BLOCKING_THREADS) -> None:
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, call: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
        """``call(*args, **kwargs)`` on one of the threads; a cancelled caller leaves it to finish (a charge begun is
        committed or rolled back by its own thread, never cut in the middle)."""
        if self._executor is None:  # only the event loop's thread gets here: no lock needed
            self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="kopek-api")
        # In the caller's context: the request's id (a context variable) goes into the errors' answers and the logs.
        in_context = functools.partial(contextvars.copy_context().run, call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, in_context)

    def _drain(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def lifespan(self, inner: Lifespan) -> Lifespan:
        """``inner``, then a wait for the calls in flight when the app stops."""
        return then_blocking(inner, self._drain)

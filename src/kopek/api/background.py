"""Background loops of ``kopek serve``: tasks that run beside the app for as long as it serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def _nothing(_app: FastAPI) -> AsyncIterator[None]:
    yield


def with_loop(loop: Callable[[], Coroutine[Any, Any, None]] | None, inner: Lifespan = _nothing) -> Lifespan:
    """``inner`` with ``loop`` running as a task beside it (``loop`` none: ``inner`` alone); the task is
    cancelled, and awaited, when the app stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            if loop is None:
                yield
                return
            task = asyncio.create_task(loop())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


def then_blocking(inner: Lifespan, ending: Callable[[], None]) -> Lifespan:
    """``inner``, then ``ending`` (a blocking call: joining threads, closing an engine) in a thread when the app stops,
    however ``inner`` ends."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(app):
                yield
        finally:
            await asyncio.to_thread(ending)

    return lifespan

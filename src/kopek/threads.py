"""Blocking work handed from async code to a worker thread, finished even when its caller is cancelled.

The server's background loops (session clean-up, notification publishing, Nchf
re-authorizations) are cancelled when it stops, and then it closes its engine. A thread
still inside a transaction would give its connection back to a pool already disposed, and
the connection would be dropped unclosed. So a cancelled caller waits for its thread to
end before it lets the cancellation go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

Params = ParamSpec("Params")
Result = TypeVar("Result")


async def in_thread_to_the_end(call: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
    """``call(*args, **kwargs)`` in a worker thread; cancelled, it first waits for the thread to end."""
    running = asyncio.ensure_future(asyncio.to_thread(call, *args, **kwargs))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise

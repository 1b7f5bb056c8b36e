"""Work handed to a thread from async code ends before a cancelled caller lets go."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kopek.threads import in_thread_to_the_end


def test_a_cancelled_caller_waits_for_its_thread_to_end() -> None:
    started, release = threading.Event(), threading.Event()
    ended: list[str] = []

    def work(name: str) -> str:
        started.set()
        release.wait()
        ended.append(name)
        return name

    async def scenario() -> None:
        task = asyncio.ensure_future(in_thread_to_the_end(work, "pass"))
        await asyncio.to_thread(started.wait)
        task.cancel()
        await asyncio.sleep(0)
        assert not task.done() and ended == []
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ended == ["pass"]

    asyncio.run(scenario())


def test_an_uncancelled_caller_gets_the_result() -> None:
    assert asyncio.run(in_thread_to_the_end(lambda a, *, b: a + b, 1, b=2)) == 3

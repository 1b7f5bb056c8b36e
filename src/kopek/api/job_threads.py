"""Rating jobs started over HTTP run in threads of the server; the server waits for them before it stops.

A job's thread holds a database connection while it charges. Were the engine closed under it,
its connection would go back to a pool already disposed and be dropped unclosed. So the app
keeps the threads it starts and, when it stops, waits for them: a job stopped by a kill
instead is resumed by the next run of it (docs/batch.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kopek.api.background import Lifespan, then_blocking


class JobThreads:
    """The threads of the jobs an app started and that have not ended yet."""

    def __init__(self) -> None:
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self, target: Callable[..., None], *args: Any, name: str) -> None:
        """Run ``target(*args)`` in a new thread named ``name``, kept until it ends."""
        thread = threading.Thread(target=self._run, args=(target, args), name=name)
        with self._lock:
            self._running.add(thread)
        thread.start()

    def _run(self, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            target(*args)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())

    def join(self) -> None:
        """Wait until every thread started so far has ended."""
        with self._lock:
            running = list(self._running)
        for thread in running:
            thread.join()

    def lifespan(self, inner: Lifespan) -> Lifespan:
        """``inner``, then a wait for the job threads when the app stops."""
        return then_blocking(inner, self.join)

"""A server worker ends with the process that started it.

Granian runs each worker in a child process. When ``kopek serve`` ends normally it stops its
workers; killed outright (SIGKILL, an out-of-memory kill) it cannot, and a worker left behind
would keep its port, its database connections and its background jobs. On Linux a worker asks
the kernel to signal it when its parent dies (``prctl(PR_SET_PDEATHSIG)``), then sends itself
SIGTERM, so it stops as it would on ``kopek serve``'s own SIGTERM: its lifespan ends, its jobs are
joined and its engine closed. That stop is bounded: an alarm set first ends the process
(SIGALRM's default action, which needs no Python) if it has not ended within
:data:`STOP_GRACE_SECONDS`, as when the server's own signal handling hangs (seen now and then: the
worker's main thread blocked inside it for good). Elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from types import FrameType

_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10
"""How long a worker whose parent died may take to stop before the alarm ends it."""
_PARENT_GONE = signal.SIGUSR2
"""The signal the kernel sends a worker when its parent dies (the server uses SIGINT, SIGTERM and SIGHUP)."""


def end_with_parent() -> None:
    """Ask to be told when the parent process dies (Linux), and then stop (see the module); if it is already gone, stop
    now."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    # A Python handler can only be set in the main thread; elsewhere the kernel sends SIGTERM itself (no alarm then).
    told = _PARENT_GONE if threading.current_thread() is threading.main_thread() else signal.SIGTERM
    if told == _PARENT_GONE:
        signal.signal(_PARENT_GONE, _stop)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(told), 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), told)


def _stop(_signal: int, _frame: FrameType | None) -> None:
    """Stop as on SIGTERM, within :data:`STOP_GRACE_SECONDS`."""
    signal.alarm(STOP_GRACE_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)

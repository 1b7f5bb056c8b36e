"""A server worker ends with the process that started it.

Granian runs each worker in a child process. When ``kopek serve`` ends normally it stops its
workers; killed outright (SIGKILL, an out-of-memory kill) it cannot, and a worker left behind
would keep its port, its database connections and its background jobs. On Linux a worker asks
the kernel to send it SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so it stops as
it would on ``kopek serve``'s own SIGTERM: its lifespan ends, its jobs are joined and its engine
closed. Elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """Ask for SIGTERM when the parent process dies (Linux); if it is already gone, send it now."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)

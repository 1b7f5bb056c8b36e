"""A server worker asks to be told of its parent's death: with its own handler in the main thread (which bounds the
stop with an alarm), with the kernel's SIGTERM in any other thread. Run in a child interpreter, so this process keeps
its own signals."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import signal, threading
from kopek.api import parent_death
{call}
handler = signal.getsignal(signal.SIGUSR2)
print("own" if handler is parent_death._stop else "default")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("parent_death.end_with_parent()", "own"),
        ("worker = threading.Thread(target=parent_death.end_with_parent); worker.start(); worker.join()", "default"),
    ],
)
def test_a_worker_is_told_of_its_parents_death_from_any_thread(call: str, expected: str) -> None:
    answer = subprocess.run([sys.executable, "-c", PROBE.format(call=call)], capture_output=True, text=True, timeout=60, check=True)
    assert answer.stdout.strip() == expected, answer.stderr

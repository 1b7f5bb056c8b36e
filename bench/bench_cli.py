"""The start-up of the ``kopek`` command: ``kopek --help`` in a process of its own, timed from start to exit.

Scripts call the command many times; its target is 0.3 s for ``kopek --help``. Each run is a
fresh Python process (``python -m kopek.cli --help``), the way a shell starts it; the row keeps
every run's time, and the latency columns show their median and 99th percentile.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.measure import Row

HELP_TARGET_SECONDS = 0.3
"""What ``kopek --help`` should take at most."""


def run(runs: int) -> Row:
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kopek.cli", "--help"], check=True, capture_output=True)
        latencies.append(time.perf_counter() - started)
    median = sorted(latencies)[len(latencies) // 2]
    verdict = "within" if median <= HELP_TARGET_SECONDS else "above"
    return Row(
        "cli: kopek --help start-up",
        items=runs,
        seconds=sum(latencies),
        latencies=latencies,
        note=f"median {median * 1000:.0f} ms, {verdict} the {HELP_TARGET_SECONDS * 1000:.0f} ms target",
    )

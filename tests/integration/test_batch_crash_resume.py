"""A rating job killed (SIGKILL) at random points resumes with no CDR charged twice or lost.

The job runs in a subprocess; the test kills it once some CDRs are charged, runs the
job again until it finishes, and compares everything with an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import RatingMode
from kopek.store.schema import cdr_outcomes
from tests.integration.support import cdr_charges
from tests.integration.test_batch_rating_jobs import state
from tests.worlds import build_world

CDR_COUNT = 400
CHUNK_CDRS = 7
"""Small chunks, so the kills land between many commits."""
LEASE_SECONDS = 0.5
"""A short lease, so each new run takes over at once the partition the killed one held."""
RUNNER = (
    "import sys; from kopek import Engine; "
    f"Engine(sys.argv[1]).run_rating_job(sys.argv[2], lease_seconds={LEASE_SECONDS}, chunk_cdrs={CHUNK_CDRS})"
)


def _fill(engine: Engine) -> str:
    build_world(engine)
    rows = [
        (
            n,
            {
                "id": f"cdr-{n:04d}",
                "item_class": "sms",
                "consumption_date": f"2026-06-{1 + n % 3:02d}T{n % 24:02d}:{n % 60:02d}:00+00:00",
                "service_id": "mobile",
                "user_id": ("alice-msisdn", "bob-msisdn")[n % 2],
                "properties": {"destination": "33123"},
            },
        )
        for n in range(1, CDR_COUNT + 1)
    ]
    engine.import_cdrs(rows, strict=True)
    return engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL)


def _charged(engine: Engine) -> int:
    # A reading transaction: on SQLite it does not queue for the write lock the job holds.
    with engine.database.connect().execution_options(kopek_writes=False) as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(cdr_outcomes)).scalar_one())


def test_a_job_killed_at_random_points_resumes_to_the_uninterrupted_result(tmp_path: Path, any_url: str) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    with Engine(f"sqlite:///{tmp_path / 'straight.db'}") as straight:
        straight.run_rating_job(_fill(straight))
        expected_state = state(straight)
        expected_statuses = {cdr_id: straight.cdr(cdr_id).status for cdr_id in (f"cdr-{n:04d}" for n in range(1, CDR_COUNT + 1))}
    url = any_url
    chance = random.Random(20261125)
    with Engine(url) as engine:
        job_id = _fill(engine)
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
        for _ in range(3):
            target = _charged(engine) + chance.randint(1, 40)
            runner = subprocess.Popen([sys.executable, "-c", RUNNER, url, job_id], env=environment)
            deadline = time.monotonic() + 60
            while runner.poll() is None and _charged(engine) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            runner.send_signal(signal.SIGKILL)
            runner.wait()
        assert 0 < _charged(engine) < CDR_COUNT, "the kills must land in the middle of the job"
        status = engine.run_rating_job(job_id, lease_seconds=LEASE_SECONDS, chunk_cdrs=CHUNK_CDRS)
        assert status.pending == 0 and status.state.value in {"succeeded", "completed_with_errors"}
        assert state(engine) == expected_state
        assert {cdr_id: engine.cdr(cdr_id).status for cdr_id in expected_statuses} == expected_statuses
        assert cdr_charges(engine) == status.charged

"""Ctrl-C on ``kopek rate``: the worker stops between chunks, gives its partitions back, says how to resume, and the
resumed job charges every CDR exactly once.

``kopek rate`` runs in a real subprocess; the test waits until the job has charged some
CDRs (read in the database), sends SIGINT, and bounds the wait for the exit generously:
a stop comes after the chunk in flight, a small one here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.store.schema import cdr_outcomes, rating_job_partitions, rating_jobs
from tests.integration.support import cdr_charges
from tests.worlds import build_world

CDR_COUNT = 3_000
EXIT_WITHIN_SECONDS = 30


def _charged(engine: Engine) -> int:
    # A reading transaction: on SQLite it does not queue for the write lock the job holds.
    with engine.database.connect().execution_options(kopek_writes=False) as connection:
        charged = cdr_outcomes.c.status == "charged"
        return int(connection.execute(sa.select(sa.func.count()).select_from(cdr_outcomes).where(charged)).scalar_one())


def _fill(engine: Engine) -> None:
    build_world(engine, alice_balance="10000.00")
    rows = [
        (
            n,
            {
                "id": f"cdr-{n:05d}",
                "item_class": "sms",
                "consumption_date": f"2026-06-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00+00:00",
                "service_id": "mobile",
                "user_id": "alice-msisdn",
                "properties": {"destination": "33123"},
            },
        )
        for n in range(1, CDR_COUNT + 1)
    ]
    engine.import_cdrs(rows, strict=True)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_the_workers_between_chunks_releases_their_partitions_and_the_job_resumes_exactly_once(
    any_url: str, workers: str
) -> None:
    if not hasattr(signal, "SIGINT") or sys.platform == "win32":
        pytest.skip("needs POSIX signals")
    with Engine(any_url) as engine:
        _fill(engine)
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
        environment.pop("KOPEK_DATABASE_URL", None)
        command = [sys.executable, "-m", "kopek.cli", "rate", "--database-url", any_url, "--path", "row", "--chunk-cdrs", "10"]
        command += ["--workers", workers]
        worker = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while worker.poll() is None and _charged(engine) == 0:
                time.sleep(0.01)
            assert worker.poll() is None, worker.communicate()
            worker.send_signal(signal.SIGINT)
            stdout, stderr = worker.communicate(timeout=EXIT_WITHIN_SECONDS)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        assert worker.returncode == 128 + signal.SIGINT, (stdout, stderr)
        found = re.search(r"Resume it with: kopek rate --worker (job-\w+) --database-url ", stderr)
        assert found is not None, stderr
        job_id = found.group(1)
        charged_before = _charged(engine)
        assert 0 < charged_before < CDR_COUNT, "the stop must land in the middle of the job"
        with engine.database.connect() as connection:
            state = connection.execute(sa.select(rating_jobs.c.state).where(rating_jobs.c.id == job_id)).scalar_one()
            held = connection.execute(
                sa.select(rating_job_partitions.c.status, rating_job_partitions.c.worker_id, rating_job_partitions.c.lease_until)
            ).all()
        assert state == "interrupted"
        assert [tuple(row) for row in held] == [("open", None, None)], "the partition is free for any worker at once"

        status = engine.run_rating_job(job_id)
        assert (status.state.value, status.charged, status.pending) == ("succeeded", CDR_COUNT, 0)
        assert cdr_charges(engine) == CDR_COUNT
        assert str(engine.account("alice-prepaid").balance) == f"{10000 - CDR_COUNT // 10}.00"

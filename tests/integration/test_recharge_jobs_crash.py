"""A mass recharging job killed (SIGKILL) at random points resumes with each contract recharged exactly once.

The job runs in a subprocess; the test kills it once some contracts are recharged, runs it
again until it finishes, and compares everything with an uninterrupted run.
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
from kopek.recharging.jobs import RechargeJobFilters
from kopek.store.schema import account_operations, rating_job_partitions, recharges
from tests.recharge_world import CORRECTED, MONTH, all_figures, build_many, tariff

CONTRACTS = 40
RETENTION_DAYS = 3_660
"""The usage is of June 2026 and the engines run on the system clock: a window wide enough to reach it."""
LEASE_SECONDS = 0.5
"""A short lease, so each new run takes over at once the contract the killed one held."""
RUNNER = (
    "import sys; from kopek import Engine; "
    f"Engine(sys.argv[1], recharge_retention_days={RETENTION_DAYS}).run_recharge_job(sys.argv[2], lease_seconds={LEASE_SECONDS})"
)


def _fill(engine: Engine) -> str:
    build_many(engine, CONTRACTS)
    engine.load_catalog(tariff(*CORRECTED))
    return engine.start_recharge_job(RechargeJobFilters(from_date=MONTH))


def _done(engine: Engine, job_id: str) -> int:
    # A reading transaction: on SQLite it does not queue for the write lock the job holds.
    with engine.database.connect().execution_options(kopek_writes=False) as connection:
        query = sa.select(sa.func.count()).where(rating_job_partitions.c.job_id == job_id, rating_job_partitions.c.status == "done")
        return int(connection.execute(query).scalar_one())


def test_a_recharging_job_killed_at_random_points_recharges_each_contract_exactly_once(tmp_path: Path, any_url: str) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    with Engine(f"sqlite:///{tmp_path / 'straight.db'}", recharge_retention_days=RETENTION_DAYS) as straight:
        straight.run_recharge_job(_fill(straight))
        expected = all_figures(straight)
    chance = random.Random(20261206)
    with Engine(any_url, recharge_retention_days=RETENTION_DAYS) as engine:
        job_id = _fill(engine)
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
        for _ in range(3):
            target = _done(engine, job_id) + chance.randint(1, 8)
            runner = subprocess.Popen([sys.executable, "-c", RUNNER, any_url, job_id], env=environment)
            deadline = time.monotonic() + 60
            while runner.poll() is None and _done(engine, job_id) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            runner.send_signal(signal.SIGKILL)
            runner.wait()
        assert 0 < _done(engine, job_id) < CONTRACTS, "the kills must land in the middle of the job"
        status = engine.run_recharge_job(job_id, lease_seconds=LEASE_SECONDS)

        assert (status.state.value, status.recharged, status.pending) == ("succeeded", CONTRACTS, 0)
        assert all_figures(engine) == expected
        with engine.database.connect() as connection:
            done = connection.execute(
                sa.select(recharges.c.contract_id, sa.func.count()).where(recharges.c.state == "done").group_by(recharges.c.contract_id)
            ).all()
            compensating = connection.execute(
                sa.select(sa.func.count()).select_from(account_operations).where(account_operations.c.kind == "recharge")
            ).scalar_one()
        assert sorted(count for _, count in done) == [1] * CONTRACTS
        assert compensating == CONTRACTS
        assert engine.verify_ledger().consistent

"""CDRs that failed for a temporary reason are rated again by a later job; ``retry_failed`` takes every failed one.

The world (tests/worlds.py) and CDRs of tests/integration/test_batch_rating_jobs.py: alice's contract is being
migrated during the first job, so her first CDR fails with TEMPORARY_ILLEGAL_STATE and the first-fail mode skips her
later ones; bob's call to 999 is barred (a failure for good) and skips his last SMS.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import JobFilters, RatingMode
from tests.integration.support import cdr_charges
from tests.integration.test_batch_rating_jobs import records
from tests.worlds import build_world


def _statuses(engine: Engine) -> dict[str, str]:
    return {view.id: view.status for view in engine.cdrs()}


def test_a_temporary_failure_and_what_it_skipped_are_rated_by_the_next_job_and_retry_failed_takes_the_rest(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    engine.begin_migration(["alice-contract"])
    first = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL))
    assert engine.cdr("a1").error_code == "contract_migrating"
    assert (first.failed, first.temporarily_failed, first.skipped) == (3, 1, 3)
    assert _statuses(engine) == {
        "a1": "failed", "a2": "skipped", "a3": "skipped", "x1": "failed",
        "b1": "charged", "b2": "charged", "b3": "failed", "b4": "skipped",
    }  # fmt: skip
    engine.end_migration(["alice-contract"])

    second_id = engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL)
    # Alice's three CDRs only: not bob's SMS skipped after a failure for good, nor the failures for good.
    assert {view.id for view in engine.cdrs(job_id=second_id)} == {"a1", "a2", "a3"}
    second = engine.run_rating_job(second_id)
    assert (second.total, second.charged, second.failed, second.temporarily_failed, second.skipped) == (3, 1, 1, 0, 1)
    assert engine.cdr("a1").status == "charged" and engine.cdr("a1").error_code is None
    assert engine.cdr("a2").error_code == "service_not_accessible"
    assert engine.rating_job(second_id).released == 0 and engine.rating_job(first.id).released == 3

    # A plain job takes nothing more; with retry_failed, every failed and skipped CDR of the ended jobs.
    assert engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST)).total == 0
    third = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(retry_failed=True)))
    assert third.total == 5
    assert _statuses(engine) == {
        "a1": "charged", "a2": "failed", "a3": "charged", "x1": "failed",
        "b1": "charged", "b2": "charged", "b3": "failed", "b4": "charged",
    }  # fmt: skip
    assert cdr_charges(engine) == 5, "each charged CDR is charged once"


def test_a_job_that_has_not_ended_keeps_its_temporary_failures(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    engine.begin_migration(["alice-contract"])
    first_id = engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(contract_id=["alice-contract"]))
    engine.run_rating_job(first_id)
    engine.end_migration(["alice-contract"])
    with engine.database.begin() as connection:
        connection.execute(sa.text("UPDATE rating_jobs SET state = 'failed' WHERE id = :id"), {"id": first_id})
    assert engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(contract_id=["alice-contract"]))).total == 0


@pytest.mark.parametrize("retry_failed", [pytest.param(1, id="one"), pytest.param("true", id="text")])
def test_retry_failed_is_a_boolean(retry_failed: object) -> None:
    with pytest.raises(ValueError, match="retry_failed"):
        JobFilters.model_validate({"retry_failed": retry_failed})

"""A rating job holds its pending CDRs by its scope, without writing to them when it starts; a CDR belongs to one job.

The world (tests/worlds.py) and CDRs of tests/integration/test_batch_rating_jobs.py: alice's and bob's CDRs, and
``x1`` whose access is not found.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import JobFilters, RatingMode
from kopek.store.cdr_store import cdr_states
from kopek.store.schema import cdr_free_floor, cdrs, rating_jobs
from tests.integration.support import cdr_charges
from tests.integration.test_batch_rating_jobs import records
from tests.worlds import build_world


def _cdr_rows(engine: Engine) -> list[dict[str, Any]]:
    """Each stored CDR with its state (its outcome's columns, or pending)."""
    with engine.database.connect() as connection:
        return [dict(row) for row in connection.execute(cdr_states().select().order_by(cdrs.c.id)).mappings()]


def _stored_rows(engine: Engine) -> list[dict[str, Any]]:
    """The rows of ``cdrs`` themselves."""
    with engine.database.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(cdrs).order_by(cdrs.c.id)).mappings()]


def test_starting_a_job_leaves_every_cdr_row_unchanged_and_its_run_charges_them_leaving_them_as_imported(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    before, stored = _cdr_rows(engine), _stored_rows(engine)

    job_id = engine.start_rating_job(RatingMode.DAY_MOST)

    assert _cdr_rows(engine) == before
    started = engine.rating_job(job_id)
    assert (started.total, started.pending, started.released, started.progress) == (8, 8, 0, 0.0)
    assert started.partitions == {"open": 3}  # alice, bob, and the service id and user id of x1
    status = engine.run_rating_job(job_id)
    assert (status.total, status.charged + status.failed, status.pending, status.released) == (8, 8, 0, 0)
    assert {row["id"]: row["job_id"] for row in _cdr_rows(engine)} == {row["id"]: job_id for row in before}
    assert _stored_rows(engine) == stored  # Each outcome is a row of its own: a job never updates a CDR it rates free.


def test_a_job_started_while_another_runs_takes_none_of_its_cdrs_and_a_later_one_takes_what_a_cancel_released(
    engine: Engine,
) -> None:
    build_world(engine)
    alice_and_x = [record for record in records() if not record["id"].startswith("b")]
    bob = [record for record in records() if record["id"].startswith("b")]
    engine.import_cdrs(enumerate(alice_and_x, start=1), strict=True)
    first_id = engine.start_rating_job(RatingMode.DAY_MOST)
    engine.import_cdrs(enumerate(bob, start=1), strict=True)  # imported after the first job started: not its CDRs

    # Over every contract, as the first one: it takes only what the first does not cover.
    second_id = engine.start_rating_job(RatingMode.DAY_MOST)
    assert (engine.rating_job(first_id).total, engine.rating_job(second_id).total) == (4, 4)
    # Over alice's contract only: every one of her CDRs is the first job's.
    assert engine.rating_job(engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(contract_id=["alice-contract"]))).total == 0

    second = engine.run_rating_job(second_id)
    assert (second.total, second.charged + second.failed + second.skipped) == (4, 4)
    assert {row["id"] for row in _cdr_rows(engine) if row["job_id"] == second_id} == {record["id"] for record in bob}

    engine.cancel_rating_job(first_id)
    first = engine.rating_job(first_id)
    assert (first.state, first.total, first.pending, first.released) == ("cancelled", 0, 0, 4)

    third = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST))
    assert third.total == 4
    assert {row["id"] for row in _cdr_rows(engine) if row["job_id"] == third.id} == {record["id"] for record in alice_and_x}
    assert all(row["status"] != "pending" for row in _cdr_rows(engine))
    charged = sum(1 for row in _cdr_rows(engine) if row["status"] == "charged")
    assert cdr_charges(engine) == charged, "each charged CDR is charged once"


def _floor(engine: Engine) -> int:
    with engine.database.connect() as connection:
        return int(connection.execute(sa.select(cdr_free_floor.c.seq)).scalar_one())


def _seq_min(engine: Engine, job_id: str) -> int:
    with engine.database.connect() as connection:
        return int(connection.execute(sa.select(rating_jobs.c.cdr_seq_min).where(rating_jobs.c.id == job_id)).scalar_one())


def test_a_start_looks_for_free_cdrs_past_those_rated_and_a_cancel_gives_its_held_cdrs_back_below_that(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    seqs = {row["id"]: row["seq"] for row in _stored_rows(engine)}
    first = engine.start_rating_job(RatingMode.DAY_MOST)
    assert _seq_min(engine, first) == 1  # nothing rated yet: from the first CDR
    engine.run_rating_job(first)
    failed = {cdr.id for cdr in engine.cdrs(status="failed", limit=100)}
    assert failed  # x1 (no access) at least
    # Every CDR is rated: the job's end moved the floor past the last one, where the listing of pending CDRs starts.
    assert _floor(engine) == max(seqs.values()) + 1
    assert engine.cdrs(status="pending", limit=100) == []

    # The next start looks past the last CDR too, and takes the failed ones again (held: not free, pending again).
    second = engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(retry_failed=True))
    assert (_seq_min(engine, second), _floor(engine)) == (max(seqs.values()) + 1, max(seqs.values()) + 1)
    assert engine.rating_job(second).total == len(failed)
    assert {cdr.id for cdr in engine.cdrs(status="pending", limit=100)} == failed

    # Cancelled: the CDRs it held are free again, and the floor goes down to the first of them, so a later job takes them.
    engine.cancel_rating_job(second)
    assert _floor(engine) == min(seqs[cdr_id] for cdr_id in failed)
    assert {cdr.id for cdr in engine.cdrs(status="pending", limit=100)} == failed
    third = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST))
    assert (third.total, third.charged + third.failed) == (len(failed), len(failed))
    assert _seq_min(engine, third.id) == min(seqs[cdr_id] for cdr_id in failed)
    assert all(row["status"] != "pending" for row in _cdr_rows(engine))
    assert engine.cdrs(status="pending", limit=100) == []
    assert cdr_charges(engine) == sum(1 for row in _cdr_rows(engine) if row["status"] == "charged"), "each charged CDR is charged once"

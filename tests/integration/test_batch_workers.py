"""Several workers on one rating job: partitions claimed by contract, leases taken over, cancellation, contract filter.

The world: alice (prepaid 10.00 EUR) and bob (postpaid) from tests/worlds.py, plus
``n0`` .. ``n5``, each with a prepaid account of 1.00 EUR (so some run dry and first-fail
skips their later CDRs); ``n4`` and ``n5`` are both paid by ``n4``'s account, so their
contracts share one partition.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import AccessInput, ChargeableItem, ContractInput, Engine, KopekError, SubscriberAccountInput
from kopek.batch import rating_jobs as rating_jobs_module
from kopek.batch.partition_rating import Claim, PartitionReleased, rate_partition
from kopek.batch.rating_jobs import JobFilters, RatingMode, RatingPath
from kopek.charging.offline import ChargingContext
from kopek.store.catalog_cache import CatalogCache
from kopek.store.cdr_store import cdr_states
from kopek.store.schema import accounts, cdr_outcomes, cdrs, charged_items, counters, rating_job_members, rating_job_partitions, rating_jobs
from kopek.store.uow import UnitOfWork
from tests.fakes import FixedClock, SequentialIds
from tests.worlds import build_world

START = datetime(2026, 6, 1, tzinfo=UTC)
HOLDERS = ["alice", "bob", "n0", "n1", "n2", "n3", "n4", "n5"]
SHARED_PAYER = {"n5": "n4-prepaid"}


def build(engine: Engine) -> None:
    build_world(engine)
    for holder in HOLDERS[2:]:
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": holder, "currency": "EUR", "accounts": [{"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": "1.00"}]}
            )
        )
    for holder in HOLDERS[2:]:
        contract = {
            "id": f"{holder}-contract",
            "subscriber_account_id": holder,
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": "mobile"}],
            "roles": {"payer": SHARED_PAYER.get(holder, f"{holder}-prepaid")},
        }
        engine.create_contract(ContractInput.model_validate(contract))
        access = {
            "service_id": "mobile",
            "user_id": f"{holder}-msisdn",
            "contract_id": f"{holder}-contract",
            "valid_from": START.isoformat(),
        }
        engine.create_access(AccessInput.model_validate(access))


def fill(engine: Engine, count: int) -> None:
    """``count`` CDRs spread over the holders (and a user without access), SMS and calls, over three days."""
    rows = []
    for number in range(count):
        holder = (*HOLDERS, "nobody")[number % (len(HOLDERS) + 1)]
        call = number % 3 == 0
        properties = {"destination": "33123", "duration": str(30 + number % 90)} if call else {"destination": "33123"}
        at = START + timedelta(minutes=(number * 37) % (3 * 24 * 60))
        record = {
            "id": f"cdr-{number:05d}",
            "item_class": "voice_call" if call else "sms",
            "consumption_date": at.isoformat(),
            "service_id": "mobile",
            "user_id": f"{holder}-msisdn",
            "properties": properties,
        }
        rows.append((number + 1, record))
    engine.import_cdrs(rows, strict=True)


def outcome(engine: Engine) -> dict[str, Any]:
    """Every CDR's status, every balance, counter and charged amount: what one or several workers must leave alike."""
    with engine.database.connect() as connection:
        return {
            "cdrs": sorted((row.id, row.status, row.error_code) for row in connection.execute(cdr_states().select())),
            "balances": sorted((row.id, str(row.balance)) for row in connection.execute(sa.select(accounts))),
            "counters": sorted((row.contract_id, row.item_id, row.name, str(row.value)) for row in connection.execute(sa.select(counters))),
            "charged_items": sorted(
                (row.contract_id, str(row.amount), row.consumption_date.isoformat()) for row in connection.execute(sa.select(charged_items))
            ),
        }


def one_worker_outcome(url: str, mode: RatingMode, count: int, **options: Any) -> dict[str, Any]:
    """What one worker leaves on ``url`` (a database of its own): the world, ``count`` CDRs, one job run with ``options``."""
    with Engine(url) as single:
        build(single)
        fill(single, count)
        single.run_rating_job(single.start_rating_job(mode), **options)
        return outcome(single)


def partitions(engine: Engine, job_id: str) -> list[dict[str, Any]]:
    with engine.database.connect() as connection:
        query = sa.select(rating_job_partitions).where(rating_job_partitions.c.job_id == job_id)
        return [dict(row) for row in connection.execute(query).mappings()]


def test_contracts_sharing_a_payer_account_share_a_partition(engine: Engine) -> None:
    build(engine)
    fill(engine, 90)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    keys = sorted(partition["partition_key"] for partition in partitions(engine, job_id))
    expected = [f"contract/{holder}-contract" for holder in HOLDERS if holder != "n5"] + ["access/mobile/nobody-msisdn"]
    assert keys == sorted(expected)
    assert engine.rating_job(job_id).partitions == {"open": 8}


@contextlib.contextmanager
def held_job_row(engine: Engine, job_id: str) -> Iterator[Callable[[int], None]]:
    """Hold the job's row lock (PostgreSQL) until the body returns; the body gets a function that waits until ``count``
    sessions wait for that lock. Worker processes starting a job take that lock first, so once both wait, they
    start claiming at the same moment, however long each took to start (a fast worker cannot end the job alone)."""
    with engine.database.connect() as holder:
        holder.execute(sa.select(rating_jobs.c.id).where(rating_jobs.c.id == job_id).with_for_update())
        pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

        def waiting(count: int) -> None:
            # A second waiter for a row lock waits behind the first (its tuple lock), not behind the holder.
            blocked = sa.text("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            deadline = time.monotonic() + 60
            with engine.database.connect() as watcher:
                while True:
                    edges: dict[int, list[int]] = {row[0]: row[1] for row in watcher.execute(blocked)}
                    behind = {pid}
                    watcher.rollback()  # pg_stat_activity holds still within one transaction
                    while grown := {waiter for waiter, blockers in edges.items() if waiter not in behind and behind & set(blockers)}:
                        behind |= grown
                    if len(behind) - 1 >= count:
                        return
                    assert time.monotonic() < deadline, f"{count} workers never waited for the job's row"
                    time.sleep(0.05)

        yield waiting
        holder.rollback()


@pytest.mark.postgres
@pytest.mark.parametrize("mode", [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_TRY])
def test_two_worker_processes_on_postgresql_leave_what_one_worker_leaves(postgres_url: str, sqlite_url: str, mode: RatingMode) -> None:
    expected = one_worker_outcome(sqlite_url, mode, 900)
    with Engine(postgres_url) as engine:
        build(engine)
        fill(engine, 900)
        job_id = engine.start_rating_job(mode)
        command = [
            sys.executable,
            "-m",
            "kopek.cli",
            "rate",
            "--worker",
            job_id,
            "--chunk-cdrs",
            "5",
            "--database-url",
            postgres_url,
            "--json",
        ]
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with held_job_row(engine, job_id) as waiting:
                workers += [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
                waiting(2)
            for worker in workers:
                printed, error = worker.communicate(timeout=300)
                assert worker.returncode == 1 and json.loads(printed)["id"] == job_id, error.decode()
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
        status = engine.rating_job(job_id)
        assert status.state.value == "completed_with_errors" and status.pending == 0
        assert outcome(engine) == expected
        assert len({partition["worker_id"] for partition in partitions(engine, job_id)}) == 2, "both workers took partitions"


@pytest.mark.parametrize("mode", [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_TRY])
def test_two_workers_of_one_call_leave_what_one_worker_leaves(any_url: str, tmp_path: Path, mode: RatingMode) -> None:
    expected = one_worker_outcome(f"sqlite:///{tmp_path / 'single.db'}", mode, 450)
    with Engine(any_url) as engine:
        build(engine)
        fill(engine, 450)
        job_id = engine.start_rating_job(mode)
        if engine.database.dialect.name == "postgresql":
            # Both threads wait for the job's row, then claim at the same moment: each takes partitions.
            with ThreadPoolExecutor(max_workers=1) as runner:
                with held_job_row(engine, job_id) as waiting:
                    running = runner.submit(engine.run_rating_job, job_id, worker_id="two", chunk_cdrs=5, workers=2)
                    waiting(2)
                status = running.result(timeout=300)
            assert {partition["worker_id"] for partition in partitions(engine, job_id)} == {"two/1", "two/2"}
        else:
            status = engine.run_rating_job(job_id, worker_id="two", chunk_cdrs=5, workers=2)
        assert status.state.value == "completed_with_errors" and status.pending == 0
        assert outcome(engine) == expected


@pytest.mark.parametrize("mode", [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.DAY_MOST])
def test_small_partitions_on_the_row_path_are_charged_together_as_they_would_be_one_by_one(
    any_url: str, tmp_path: Path, mode: RatingMode
) -> None:
    # Chunks of 5 CDRs: no partition fits one, so each is charged on its own.
    expected = one_worker_outcome(f"sqlite:///{tmp_path / 'alone.db'}", mode, 450, path=RatingPath.ROW, chunk_cdrs=5)
    with Engine(any_url) as engine:
        build(engine)
        fill(engine, 450)
        job_id = engine.start_rating_job(mode)
        chunks: list[int] = []
        status = engine.run_rating_job(job_id, path=RatingPath.ROW, progress=chunks.append)
        assert status.pending == 0 and sum(chunks) == 450
        assert len(chunks) < len(partitions(engine, job_id)), "several partitions in one chunk"
        assert {(path.path, path.reason) for path in status.paths} == {("row", "row_path_requested")}
        assert outcome(engine) == expected


def test_a_failing_worker_stops_the_others_and_its_failure_is_raised(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    build(engine)
    fill(engine, 90)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    real = rating_jobs_module.run_job
    stopped: list[bool] = []

    def first_fails(job: str, context: ChargingContext, *, worker_id: str, stop: Callable[[], bool], **options: Any) -> None:
        if worker_id == "w/1":
            raise RuntimeError("a fault of the first worker")
        real(job, context, worker_id=worker_id, stop=lambda: stopped.append(stop()) or stopped[-1], **options)

    monkeypatch.setattr(rating_jobs_module, "run_job", first_fails)
    with pytest.raises(RuntimeError, match="a fault of the first worker"):
        engine.run_rating_job(job_id, worker_id="w", workers=2)
    assert stopped[-1], "the other worker was asked to stop"
    assert engine.rating_job(job_id).state.value == "failed"


def test_a_job_needs_at_least_one_worker(engine: Engine) -> None:
    build(engine)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    with pytest.raises(KopekError) as raised:
        engine.run_rating_job(job_id, workers=0)
    assert raised.value.category.value == "INVALID" and raised.value.details[0].location == ("workers",)


def test_a_job_finds_each_cdrs_contract_by_the_access_valid_at_its_consumption_date(engine: Engine) -> None:
    build(engine)
    moved = START + timedelta(days=1)
    for number, (valid_from, valid_to) in enumerate([(START, moved), (moved, None)]):
        contract = {
            "id": f"mover-{number}",
            "subscriber_account_id": "alice",
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": "mobile"}],
            "roles": {"payer": f"n{number}-prepaid"},
        }
        engine.create_contract(ContractInput.model_validate(contract))
        access = {"service_id": "mobile", "user_id": "mover-msisdn", "contract_id": f"mover-{number}", "valid_from": valid_from.isoformat()}
        engine.create_access(AccessInput.model_validate(access | ({"valid_to": valid_to.isoformat()} if valid_to else {})))
    at = [START + timedelta(hours=1), moved - timedelta(seconds=1), moved, moved + timedelta(hours=5), START - timedelta(hours=1)]
    records = [
        {"id": f"move-{number}", "item_class": "sms", "consumption_date": moment.isoformat(), "service_id": "mobile",
         "user_id": "mover-msisdn", "properties": {"destination": "33123"}}
        for number, moment in enumerate(at)
    ]  # fmt: skip
    engine.import_cdrs(list(enumerate(records, start=1)), strict=True)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    with engine.database.connect() as connection:
        members = connection.execute(sa.select(rating_job_members.c.contract_id).where(rating_job_members.c.job_id == job_id))
        assert sorted(str(contract) for contract in members.scalars()) == ["None", "mover-0", "mover-1"]
    assert sum(partition["cdr_count"] for partition in partitions(engine, job_id)) == len(at)
    engine.run_rating_job(job_id)
    with engine.database.connect() as connection:
        found = {row.id: row.contract_id for row in connection.execute(cdr_states().select().where(cdrs.c.id.like("move-%")))}
    assert found == {"move-0": "mover-0", "move-1": "mover-0", "move-2": "mover-1", "move-3": "mover-1", "move-4": None}


def test_a_partition_whose_worker_died_is_taken_over_once_its_lease_runs_out(engine: Engine, clock: FixedClock) -> None:
    build(engine)
    fill(engine, 45)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    with UnitOfWork(engine.database) as uow:
        uow.rating_jobs.update(job_id, {"state": "running"})
        claimed = uow.rating_jobs.claim_partition(job_id, "dead-worker", now=clock(), lease_until=clock() + timedelta(seconds=30))
        uow.commit()
    clock.advance(seconds=31)
    status = engine.run_rating_job(job_id, worker_id="live-worker")
    assert status.pending == 0 and status.state.value == "completed_with_errors"
    taken = next(partition for partition in partitions(engine, job_id) if partition["partition_key"] == claimed)
    assert (taken["status"], taken["worker_id"]) == ("done", "live-worker")


def test_a_worker_that_lost_its_lease_writes_nothing_more_in_that_partition(engine: Engine, clock: FixedClock) -> None:
    build(engine)
    fill(engine, 45)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    with UnitOfWork(engine.database) as uow:
        uow.rating_jobs.update(job_id, {"state": "running"})
        key = uow.rating_jobs.claim_partition(job_id, "slow", now=clock(), lease_until=clock() + timedelta(seconds=30))
        assert key is not None
        uow.commit()
    clock.advance(seconds=60)
    with UnitOfWork(engine.database) as uow:
        # The slow worker stalled past its lease: another worker took the partition over.
        assert uow.rating_jobs.claim_partition(job_id, "other", now=clock(), lease_until=clock() + timedelta(seconds=30)) == key
        uow.commit()
    context = ChargingContext(engine.database, CatalogCache(), clock, SequentialIds("slow"))
    stale = Claim(job_id, key, "slow", contract_first=False, first_fail=False, all_or_nothing=False, lease=timedelta(seconds=30))
    with pytest.raises(PartitionReleased):
        rate_partition(stale, context, None)
    with engine.database.connect() as connection:
        where = (cdr_outcomes.c.job_id == job_id, cdr_outcomes.c.partition_key == key)
        assert connection.execute(sa.select(sa.func.count()).select_from(cdr_outcomes).where(*where)).scalar_one() == 0


def test_cancelling_keeps_what_was_charged_and_releases_the_rest_for_a_later_job(engine: Engine) -> None:
    build(engine)
    fill(engine, 90)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)

    def cancel_after_first_chunk(_handled: int) -> None:
        if engine.rating_job(job_id).state.value == "running":
            engine.cancel_rating_job(job_id, actor="tester")

    status = engine.run_rating_job(job_id, chunk_cdrs=4, progress=cancel_after_first_chunk)
    assert status.state.value == "cancelled" and status.pending == 0
    assert status.charged + status.failed + status.skipped == 4 and status.released == 86
    assert engine.audit_log(1)[0]["action"] == "rating_job.cancel" and engine.audit_log(1)[0]["actor"] == "tester"
    assert set(status.partitions) <= {"done", "cancelled"}
    later = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST))
    assert (later.total, later.pending) == (86, 0)
    with pytest.raises(KopekError) as refused:
        engine.cancel_rating_job(job_id)
    assert (refused.value.category.value, refused.value.code.value) == ("ILLEGAL_STATE", "rating_job_already_finished")
    assert engine.run_rating_job(job_id).state.value == "cancelled"


def test_a_contract_filter_takes_only_the_cdrs_of_those_contracts(engine: Engine) -> None:
    build(engine)
    fill(engine, 90)
    one = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST, JobFilters(contract_id="alice-contract")))
    assert one.total == 10 and one.partitions == {"done": 1}
    both = JobFilters.model_validate({"contract_id": ["bob-contract", "n4-contract"]})
    assert engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST, both)).total == 20
    assert engine.cdr("cdr-00008").status == "pending", "a CDR without access selects no contract"


def test_a_job_started_before_jobs_had_partitions_is_partitioned_when_it_runs(engine: Engine) -> None:
    build(engine)
    fill(engine, 45)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    with engine.database.begin() as connection:  # As such a job was stored: its id on its CDRs, no scope, no partitions.
        connection.execute(sa.delete(rating_job_members))
        connection.execute(sa.delete(rating_job_partitions))
        connection.execute(sa.update(rating_jobs).values(cdr_seq_max=None, overlapped_jobs=None))
        connection.execute(sa.update(cdrs).values(job_id=job_id, contract_id=None, partition_key=None))
    status = engine.run_rating_job(job_id)
    assert (status.total, status.pending, status.partitions) == (45, 0, {"done": 8})


def test_a_linked_contract_shares_its_parents_partition_and_equals_single_charges(any_url: str, tmp_path: Path) -> None:
    def linked_world(engine: Engine) -> None:
        build(engine)
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": "kid", "currency": "EUR", "accounts": [{"id": "kid-prepaid", "kind": "prepaid", "initial_balance": "5.00"}]}
            )
        )
        contract = {
            "id": "a-kid-contract",
            "subscriber_account_id": "kid",
            "parent_id": "n0-contract",
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": "mobile"}],
            "roles": {"payer": "kid-prepaid"},
        }
        engine.create_contract(ContractInput.model_validate(contract))
        engine.create_access(
            AccessInput.model_validate(
                {"service_id": "mobile", "user_id": "kid-msisdn", "contract_id": "a-kid-contract", "valid_from": START.isoformat()}
            )
        )
        engine.import_cdrs(enumerate(linked_records(), start=1), strict=True)

    with Engine(f"sqlite:///{tmp_path / 'single.db'}") as single:
        linked_world(single)
        for record in linked_records():  # Engine.charge one by one, in consumption-date order.
            at = datetime.fromisoformat(record["consumption_date"])
            with contextlib.suppress(KopekError):
                single.charge(
                    ChargeableItem("voice_call", at, "mobile", record["user_id"], record["properties"]), idempotency_key=record["id"]
                )
        expected = outcome(single) | {"cdrs": None}
    with Engine(any_url, clock=FixedClock(), new_id=SequentialIds()) as engine:
        linked_world(engine)
        job_id = engine.start_rating_job(RatingMode.DAY_MOST)
        assert [partition["partition_key"] for partition in partitions(engine, job_id)] == ["contract/a-kid-contract"]
        status = engine.run_rating_job(job_id)
        assert status.pending == 0 and outcome(engine) | {"cdrs": None} == expected


def linked_records() -> list[dict[str, Any]]:
    """Calls of the linked contract and of its parent, alternating, an hour apart."""
    return [
        {
            "id": f"linked-{number}",
            "item_class": "voice_call",
            "consumption_date": (START + timedelta(hours=number)).isoformat(),
            "service_id": "mobile",
            "user_id": ("kid-msisdn", "n0-msisdn")[number % 2],
            "properties": {"destination": "33123", "duration": "45"},
        }
        for number in range(1, 13)
    ]

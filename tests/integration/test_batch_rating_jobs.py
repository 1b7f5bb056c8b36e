"""Rating jobs in each of the five modes: every CDR's final status, balances and counters.

The world (tests/worlds.py): alice prepaid 10.00 EUR, bob postpaid. SMS cost 0.10; a
call to 999 is barred (no_access); a call to 33 uses the free_seconds allowance first.
Each mode's outcome must equal charging the CDRs it charged through ``Engine.charge``
one by one, in the job's order.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import JobFilters, RatingMode
from kopek.domain.item import ChargeableItem
from kopek.store.schema import charged_items, counters
from tests.fakes import FixedClock, SequentialIds
from tests.worlds import build_world

CDRS = """
a1 alice sms   2026-06-01T08:00:00+00:00 33123
b1 bob   sms   2026-06-01T09:00:00+00:00 33123
a2 alice call  2026-06-01T10:00:00+00:00 999
x1 nobody sms  2026-06-01T12:00:00+00:00 33123
b2 bob   sms   2026-06-02T08:00:00+00:00 33123
a3 alice call  2026-06-02T09:00:00+00:00 33123
b3 bob   call  2026-06-02T10:00:00+00:00 999
b4 bob   sms   2026-06-02T11:00:00+00:00 33123
"""

FIRST_FAIL = {
    "a1": "charged",
    "b1": "charged",
    "a2": "failed",
    "x1": "failed",
    "b2": "charged",
    "a3": "skipped",
    "b3": "failed",
    "b4": "skipped",
}
MOST = FIRST_FAIL | {"a3": "charged", "b4": "charged"}
TRY = {"a1": "skipped", "a2": "failed", "a3": "skipped", "b1": "skipped", "b2": "skipped", "b3": "failed", "b4": "skipped", "x1": "failed"}
DATE_ORDER = ["a1", "b1", "a2", "x1", "b2", "a3", "b3", "b4"]
CONTRACT_ORDER = ["x1", "a1", "a2", "a3", "b1", "b2", "b3", "b4"]


def records() -> list[dict[str, Any]]:
    found = []
    for line in CDRS.strip().splitlines():
        cdr_id, holder, kind, date, destination = line.split()
        item_class, properties = (
            ("sms", {"destination": destination}) if kind == "sms" else ("voice_call", {"duration": "120", "destination": destination})
        )
        found.append(
            {
                "id": cdr_id,
                "item_class": item_class,
                "consumption_date": date,
                "service_id": "mobile",
                "user_id": f"{holder}-msisdn",
                "properties": properties,
            }
        )
    return found


def state(engine: Engine) -> dict[str, Any]:
    """Balances, counters and charged amounts: what a job must leave exactly as single charges would."""
    with engine.database.connect() as connection:
        amounts = sorted(
            (row.contract_id, str(row.amount), row.consumption_date.isoformat()) for row in connection.execute(sa.select(charged_items))
        )
        values = sorted((row.contract_id, row.name, str(row.value)) for row in connection.execute(sa.select(counters)))
    return {
        "alice": str(engine.account("alice-prepaid").balance),
        "bob": str(engine.account("bob-postpaid").balance),
        "charged_items": amounts,
        "counters": values,
    }


def reference(tmp_path: Path, charged_in_order: list[str]) -> dict[str, Any]:
    """The state after charging ``charged_in_order`` one by one through ``Engine.charge``."""
    by_id = {record["id"]: record for record in records()}
    with Engine(f"sqlite:///{tmp_path / 'reference.db'}", clock=FixedClock(), new_id=SequentialIds("ref")) as single:
        build_world(single)
        for cdr_id in charged_in_order:
            record = by_id[cdr_id]
            at = datetime.fromisoformat(record["consumption_date"])
            item = ChargeableItem(record["item_class"], at, "mobile", record["user_id"], record["properties"])
            single.charge(item, idempotency_key=cdr_id)
        return state(single)


@pytest.mark.parametrize(
    ("mode", "expected", "order"),
    [
        pytest.param(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, FIRST_FAIL, DATE_ORDER, id="day-subscription-first-fail"),
        pytest.param(RatingMode.DAY_MOST, MOST, DATE_ORDER, id="day-most"),
        pytest.param(RatingMode.SUBSCRIPTION_FIRST_FAIL, FIRST_FAIL, CONTRACT_ORDER, id="subscription-first-fail"),
        pytest.param(RatingMode.SUBSCRIPTION_MOST, MOST, CONTRACT_ORDER, id="subscription-most"),
        pytest.param(RatingMode.SUBSCRIPTION_TRY, TRY, CONTRACT_ORDER, id="subscription-try"),
    ],
)
def test_each_mode_charges_what_it_promises_and_equals_single_charges(
    engine: Engine, tmp_path: Path, mode: RatingMode, expected: dict[str, str], order: list[str]
) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    job_id = engine.start_rating_job(mode)
    status = engine.run_rating_job(job_id)
    assert {cdr_id: engine.cdr(cdr_id).status for cdr_id in expected} == expected
    charged = [cdr_id for cdr_id in order if expected[cdr_id] == "charged"]
    assert state(engine) == reference(tmp_path, charged)
    counts = {name: sum(1 for value in expected.values() if value == name) for name in ("charged", "failed", "skipped")}
    assert (status.total, status.charged, status.failed, status.skipped, status.pending) == (
        8,
        counts["charged"],
        counts["failed"],
        counts["skipped"],
        0,
    )
    assert status.state.value == "completed_with_errors" and status.progress == 1.0
    assert sum(error.count for error in status.errors) == counts["failed"]
    assert engine.cdr("a2").error_category is not None and engine.cdr("a2").job_id == job_id
    for cdr_id in charged:
        assert engine.cdr(cdr_id).operation_id is not None


def test_a_job_without_failures_succeeds_and_filters_select_its_cdrs(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    day_one = JobFilters(date_from="2026-06-01T00:00:00+00:00", date_to="2026-06-02T00:00:00+00:00", item_class="sms")  # type: ignore[arg-type]
    job_id = engine.start_rating_job(RatingMode.DAY_MOST, day_one, actor="tester")
    status = engine.run_rating_job(job_id)
    assert (status.total, status.charged, status.failed) == (3, 2, 1)
    assert engine.cdr("b2").status == "pending" and engine.cdr("b2").job_id is None
    assert engine.audit_log(1)[0]["action"] == "rating_job.start" and engine.audit_log(1)[0]["actor"] == "tester"
    clean = engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, JobFilters(item_class="sms"))
    status = engine.run_rating_job(clean)
    assert (status.state.value, status.total, status.charged) == ("succeeded", 2, 2)


def test_running_a_finished_job_again_charges_nothing_more(engine: Engine) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    engine.run_rating_job(job_id)
    before = state(engine)
    again = engine.run_rating_job(job_id)
    assert state(engine) == before and again.charged == 5

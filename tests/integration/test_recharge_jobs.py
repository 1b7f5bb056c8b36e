"""Mass recharging jobs on SQLite and PostgreSQL: contracts chosen by filter, each recharged once, refusals counted."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kopek import Engine
from kopek.charging.session_views import StartSession
from kopek.recharging.jobs import RechargeJobFilters
from tests.fakes import FixedClock
from tests.recharge_world import CORRECTED, MONTH, NOW, build_many, compensations, tariff


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def test_a_job_recharges_every_chosen_contract_once_and_a_second_run_changes_nothing(engine: Engine) -> None:
    contract_ids = build_many(engine, 4)
    engine.load_catalog(tariff(*CORRECTED))

    job_id = engine.start_recharge_job(RechargeJobFilters(from_date=MONTH, contract_ids=contract_ids[:3]))
    status = engine.run_recharge_job(job_id)

    assert (status.state.value, status.total, status.recharged, status.refused, status.pending, status.progress) == (
        "succeeded", 3, 3, 0, 0, 1.0,
    )  # fmt: skip
    # Each line: 3.70 charged with the wrong tariff, 2.79 with the right one: 0.91 each, back or owed less.
    assert sorted(compensations(engine)) == [
        ("line-000-prepaid", Decimal("0.91")), ("line-001-postpaid", Decimal("-0.91")), ("line-002-prepaid", Decimal("0.91")),
    ]  # fmt: skip
    assert {currency: str(total) for currency, total in status.compensations.items()} == {"EUR": "0.91"}
    assert engine.run_recharge_job(job_id) == status
    assert engine.verify_ledger().consistent


def test_a_contract_the_recharge_refuses_is_counted_with_its_error_and_the_others_are_recharged(engine: Engine) -> None:
    build_many(engine, 2)
    engine.load_catalog(tariff(*CORRECTED))
    at = MONTH + timedelta(days=30)  # July the 1st: the session's grant holds one of July's free minutes
    engine.start_session(
        StartSession("s-1", "call", "mobile", "line-001", at, ttl_ms=60_000, quantity_property="duration", requested_quantity="60")
    )

    status = engine.run_recharge_job(engine.start_recharge_job(RechargeJobFilters(from_date=MONTH, plans=["mobile"])))

    assert (status.state.value, status.recharged, status.refused) == ("completed_with_errors", 1, 1)
    assert [(error.contract_id, error.code) for error in status.errors] == [("line-001-line", "contract_has_live_sessions")]
    assert engine.contract("line-001-line").status == "active"


def test_a_recharging_job_is_not_a_rating_job(engine: Engine) -> None:
    build_many(engine, 1)
    job_id = engine.start_recharge_job(RechargeJobFilters(from_date=MONTH))

    assert [job.id for job in engine.rating_jobs()] == []
    with pytest.raises(Exception, match="does not exist"):
        engine.rating_job(job_id)

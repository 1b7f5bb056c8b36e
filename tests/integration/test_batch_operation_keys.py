"""CDR ids and clients' idempotency keys are two key spaces: a client's charge under the key ``a1`` and the CDR ``a1``
are two operations, while a CDR rated again still finds its own operation (a replay, nothing charged twice)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import RatingMode, RatingPath
from kopek.domain.item import ChargeableItem
from kopek.store.schema import cdr_free_floor, cdr_outcomes, charging_operations
from tests.integration.test_batch_rating_jobs import records
from tests.worlds import build_world

BOBS_SMS = ChargeableItem("sms", datetime.fromisoformat("2026-05-31T08:00:00+00:00"), "mobile", "bob-msisdn", {"destination": "1"})
PATHS = [pytest.param(RatingPath.ROW, id="row"), pytest.param(RatingPath.AUTO, id="vectorized")]


def _operations(engine: Engine) -> list[tuple[str | None, str | None]]:
    with engine.database.connect() as connection:
        query = sa.select(charging_operations.c.idempotency_key, charging_operations.c.cdr_id)
        return sorted(((row[0], row[1]) for row in connection.execute(query)), key=str)


@pytest.mark.parametrize("path", PATHS)
def test_a_client_charge_under_a_cdr_id_as_key_leaves_the_cdr_to_be_charged(engine: Engine, path: RatingPath) -> None:
    build_world(engine)
    client = engine.charge(BOBS_SMS, idempotency_key="a1")
    engine.import_cdrs(enumerate([record for record in records() if record["id"] == "a1"], start=1), strict=True)
    status = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
    assert (status.charged, status.failed) == (1, 0)
    assert engine.cdr("a1").status == "charged"
    assert _operations(engine) == [("a1", None), (None, "a1")]
    assert str(engine.account("alice-prepaid").balance) == "9.90"
    # The client's retry still answers its own first result.
    assert engine.charge(BOBS_SMS, idempotency_key="a1").operation_id == client.operation_id
    assert str(engine.account("bob-postpaid").balance) == "0.10"


@pytest.mark.parametrize("path", PATHS)
def test_a_charged_cdr_rated_again_replays_its_operation_and_charges_nothing_more(engine: Engine, path: RatingPath) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate([record for record in records() if record["id"] in {"a1", "b1"}], start=1), strict=True)
    first = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
    operation = engine.cdr("a1").operation_id
    before = (str(engine.account("alice-prepaid").balance), str(engine.account("bob-postpaid").balance))
    with engine.database.begin() as connection:  # As if its outcome had been lost: pending again, in no job, free.
        connection.execute(sa.delete(cdr_outcomes))
        connection.execute(sa.delete(cdr_free_floor))  # No floor: free CDRs are looked for from the first.
    again = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
    assert (first.charged, again.charged) == (2, 2)
    if path is RatingPath.AUTO:
        # The vectorized path finds the operations as it reads the CDRs and hands them to the row path, which replays.
        assert [(count.path, count.reason) for count in first.paths] == [("vectorized", None)]
        assert [(count.path, count.reason, count.count) for count in again.paths] == [("row", "cdr_replayed", 2)]
    assert engine.cdr("a1").operation_id == operation
    assert (str(engine.account("alice-prepaid").balance), str(engine.account("bob-postpaid").balance)) == before
    assert _operations(engine) == [(None, "a1"), (None, "b1")]

"""CDR ids and clients' idempotency keys are two key spaces: a client's charge under the key ``a1`` and the CDR ``a1``
are two charges, since a CDR's charge is recorded by its outcome, not by an operation under a key; and a CDR is charged
at most once, since its outcome is one row per CDR (a second one is refused, and the chunk that wrote it undone)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.batch.rating_jobs import RatingMode, RatingPath
from kopek.domain.item import ChargeableItem
from kopek.store.schema import cdr_outcomes, cdrs, charged_items, charging_operations
from tests.integration.test_batch_rating_jobs import records
from tests.worlds import build_world

BOBS_SMS = ChargeableItem("sms", datetime.fromisoformat("2026-05-31T08:00:00+00:00"), "mobile", "bob-msisdn", {"destination": "1"})
PATHS = [pytest.param(RatingPath.ROW, id="row"), pytest.param(RatingPath.AUTO, id="vectorized")]
_ITEM = {
    "charge_plan": "x",
    "charge": "x",
    "account_role": "payer",
    "account_id": "alice-prepaid",
    "amount": Decimal("0.10"),
    "currency": "EUR",
    "quantity": Decimal(1),
    "quantity_unit": None,
    "output": "billable",
    "consumption_date": datetime.fromisoformat("2026-05-31T08:00:00+00:00"),
}
"""The columns of a charged item that the refused chunk below writes, but those it names."""


def _operations(engine: Engine) -> list[str | None]:
    with engine.database.connect() as connection:
        return sorted(connection.execute(sa.select(charging_operations.c.idempotency_key)).scalars(), key=str)


@pytest.mark.parametrize("path", PATHS)
def test_a_client_charge_under_a_cdr_id_as_key_leaves_the_cdr_to_be_charged(engine: Engine, path: RatingPath) -> None:
    build_world(engine)
    client = engine.charge(BOBS_SMS, idempotency_key="a1")
    engine.import_cdrs(enumerate([record for record in records() if record["id"] == "a1"], start=1), strict=True)
    status = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
    assert (status.charged, status.failed) == (1, 0)
    charged = engine.cdr("a1")
    assert charged.status == "charged"
    assert charged.operation_id not in (None, client.operation_id)
    assert _operations(engine) == ["a1"]
    assert str(engine.account("alice-prepaid").balance) == "9.90"
    # The client's retry still answers its own first result.
    assert engine.charge(BOBS_SMS, idempotency_key="a1").operation_id == client.operation_id
    assert str(engine.account("bob-postpaid").balance) == "0.10"


@pytest.mark.parametrize("path", PATHS)
def test_a_cdr_has_one_outcome_so_a_second_charge_of_it_is_refused_whole(engine: Engine, path: RatingPath) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate([record for record in records() if record["id"] in {"a1", "b1"}], start=1), strict=True)
    first = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
    assert first.charged == 2
    charged = engine.cdr("a1")
    with engine.database.connect() as connection:
        items = connection.execute(sa.select(sa.func.count()).select_from(charged_items)).scalar_one()
    # Another chunk that charged a1 again (a worker that lost its claim and did not notice) writes its items and its
    # outcome in one transaction: the outcome's key refuses it, and nothing of that chunk stays.
    with pytest.raises(sa.exc.IntegrityError), engine.database.begin() as connection:
        row = {"operation_id": "other", "contract_id": "alice-contract", "contract_item_id": "x", "item_class": "sms"}
        connection.execute(sa.insert(charged_items).values(row | _ITEM))
        key = connection.execute(sa.select(cdrs.c.service_id, cdrs.c.user_id, cdrs.c.seq).where(cdrs.c.id == "a1")).one()._asdict()
        connection.execute(sa.insert(cdr_outcomes).values(key | {"job_id": "other-job", "status": "charged", "operation_id": "other"}))
    assert engine.cdr("a1") == charged
    with engine.database.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(charged_items)).scalar_one() == items

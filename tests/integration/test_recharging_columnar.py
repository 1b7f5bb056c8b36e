"""A recharge priced column-wise (batch rating's vectorized path) leaves exactly what the row path leaves, on SQLite and
PostgreSQL: balances, counters, their journal, charged items (superseded, reversals, new rows) and compensations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import AccessInput, ChargeableItem, ContractInput, Engine, SubscriberAccountInput
from kopek.batch.rating_jobs import RatingPath
from kopek.documents import parse_document
from kopek.recharging.jobs import RechargeJobFilters
from kopek.recharging.recharge import RechargeCommand, RechargeRun, recharge
from kopek.recharging.views import PricingPath, RechargeResult
from kopek.store.schema import account_operations, accounts, charged_items, counter_journal, counters
from tests.fakes import FixedClock, SequentialIds

# Counters that never reset, an allowance in front of a rate, a switch and a flat price: what the vectorized path takes.
TARIFF = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: zone, type: string, default: national}
  - name: sms
    properties:
      - {name: destination, type: string, default: national}
charge_plans:
  - name: flat_mobile
    currency: EUR
    counters:
      - {name: free_seconds, scope: contract_item, unit: seconds, initial: 600}
    charges:
      - name: voice
        item_class: call
        account_role: payer
        output: both
        rounding: {decimals: 2, mode: half_up}
        price:
          type: allowance
          counter: free_seconds
          then:
            type: switch
            property: zone
            cases:
              abroad: {type: rate, amount: "ABROAD", unit: minutes, increment: 1}
            default: {type: rate, amount: "MINUTE", unit: minutes, increment: 1}
      - name: sms
        item_class: sms
        account_role: payer
        output: both
        price: {type: flat, amount: "TEXT"}
"""

MONTH = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)


def tariff(minute: str, abroad: str, text: str) -> Any:
    return parse_document(TARIFF.replace("ABROAD", abroad).replace("MINUTE", minute).replace("TEXT", text), source="tariff.yaml")


def _world(engine: Engine) -> None:
    """Two lines (prepaid and postpaid) with a month of calls and texts, one call charged late; the tariff corrected."""
    engine.load_catalog(tariff("0.20", "1.00", "0.10"))
    for holder, kind, extra in (("ann", "prepaid", {"initial_balance": "80.00"}), ("ben", "postpaid", {})):
        account = {"id": f"{holder}-{kind}", "kind": kind, **extra}
        engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": holder, "currency": "EUR", "accounts": [account]}))
        contract = {
            "id": f"{holder}-line", "subscriber_account_id": holder, "valid_from": "2026-01-01T00:00:00Z",
            "items": [{"id": "plan", "charge_plan": "flat_mobile"}], "roles": {"payer": f"{holder}-{kind}"},
        }  # fmt: skip
        engine.create_contract(ContractInput.model_validate(contract))
        access = {"service_id": "mobile", "user_id": holder, "contract_id": f"{holder}-line", "valid_from": "2026-01-01T00:00:00Z"}
        engine.create_access(AccessInput.model_validate(access))
        late = None
        for day in range(1, 29):
            at = MONTH + timedelta(days=day - 1, hours=10)
            seconds = str(45 + (day * 37) % 400)
            zone = "abroad" if day % 5 == 0 else "national"
            call = ChargeableItem("call", at, "mobile", holder, {"duration": seconds, "zone": zone})
            if day == 6:
                late = call  # arrives after the rest
            else:
                engine.charge(call)
            engine.charge(ChargeableItem("sms", at + timedelta(hours=2), "mobile", holder, {}))
        assert late is not None
        engine.charge(late)
    engine.load_catalog(tariff("0.15", "0.90", "0.08"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def twin(any_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Another database of the same kind with the same world, whose recharges take the row path."""
    url = f"sqlite:///{tmp_path / 'twin.db'}" if any_url.startswith("sqlite") else str(request.getfixturevalue("fresh_postgres_url"))
    with Engine(url, clock=FixedClock(NOW), new_id=SequentialIds()) as opened:
        yield opened


def _row_path(engine: Engine, contract_id: str, from_date: datetime) -> RechargeResult:
    run = RechargeRun("system", 93, paths=(PricingPath.ROW,))
    return recharge(RechargeCommand(contract_id, from_date), engine._charging, run)


def everything(engine: Engine) -> dict[str, Any]:
    """What a recharge writes: balances, counters, the counter journal, every charged item, every account operation."""
    with engine.database.connect() as connection:
        return {
            "balances": sorted(connection.execute(sa.select(accounts.c.id, accounts.c.balance)).all()),
            "counters": sorted(
                (row.contract_id, row.item_id, row.name, Fraction(row.value), row.period_start, row.expires_at)
                for row in connection.execute(sa.select(counters))
            ),
            "journal": [
                (row.contract_id, row.operation_id, row.kind, row.name, row.present, row.value)
                for row in connection.execute(sa.select(counter_journal).order_by(counter_journal.c.id))
            ],
            "charged_items": [
                tuple(row)
                for row in connection.execute(
                    sa.select(
                        charged_items.c.id,
                        charged_items.c.operation_id,
                        charged_items.c.charge,
                        charged_items.c.account_id,
                        charged_items.c.amount,
                        charged_items.c.quantity,
                        charged_items.c.recharge_id,
                        charged_items.c.reverses_id,
                        charged_items.c.superseded_by,
                    ).order_by(charged_items.c.id)
                )
            ],
            "account_operations": [
                tuple(row)
                for row in connection.execute(
                    sa.select(
                        account_operations.c.account_id,
                        account_operations.c.operation_id,
                        account_operations.c.kind,
                        account_operations.c.amount,
                        account_operations.c.balance_after,
                    ).order_by(account_operations.c.id)
                )
            ],
        }


@pytest.mark.parametrize("from_date", [pytest.param(MONTH, id="whole-month"), pytest.param(MONTH + timedelta(days=9), id="from-the-10th")])
def test_a_recharge_priced_column_wise_leaves_exactly_what_the_row_path_leaves(engine: Engine, twin: Engine, from_date: datetime) -> None:
    _world(engine)
    _world(twin)

    columnar = [engine.recharge(contract_id, from_date, path=RatingPath.AUTO) for contract_id in ("ann-line", "ben-line")]
    row = [_row_path(twin, contract_id, from_date) for contract_id in ("ann-line", "ben-line")]

    assert [result.pricing_path for result in columnar] == [PricingPath.COLUMNAR] * 2
    assert [result.pricing_path for result in row] == [PricingPath.ROW] * 2
    assert all(result.items_changed > 0 and result.compensations for result in columnar)
    assert [result.model_dump(exclude={"pricing_path"}) for result in columnar] == [
        result.model_dump(exclude={"pricing_path"}) for result in row
    ]
    assert everything(engine) == everything(twin)


def test_a_second_recharge_column_wise_writes_nothing(engine: Engine) -> None:
    _world(engine)
    engine.recharge("ann-line", MONTH, path=RatingPath.AUTO)
    before = everything(engine)

    again = engine.recharge("ann-line", MONTH, path=RatingPath.AUTO)

    assert (again.pricing_path, again.items_changed, again.compensations) == (PricingPath.COLUMNAR, 0, [])
    assert everything(engine) == before


def test_a_counter_that_resets_monthly_is_recharged_column_wise_as_on_the_row_path(engine: Engine, twin: Engine) -> None:
    resetting = TARIFF.replace("initial: 600}", "initial: 600, reset: monthly}")
    for world in (engine, twin):
        _world(world)
        world.load_catalog(
            parse_document(resetting.replace("ABROAD", "0.90").replace("MINUTE", "0.15").replace("TEXT", "0.08"), source="tariff.yaml")
        )

    columnar = engine.recharge("ann-line", MONTH, path=RatingPath.AUTO)
    row = _row_path(twin, "ann-line", MONTH)

    assert (columnar.pricing_path, row.pricing_path) == (PricingPath.COLUMNAR, PricingPath.ROW)
    assert columnar.model_dump(exclude={"pricing_path"}) == row.model_dump(exclude={"pricing_path"})
    assert everything(engine) == everything(twin)


def test_a_plan_the_vectorized_path_does_not_take_is_recharged_on_the_row_path(engine: Engine) -> None:
    _world(engine)
    # A range node (a price by the range a number falls in) is not one the vectorized path expresses.
    ranged = (
        'default: {type: range, property: duration, ranges: [{to: 60, price: {type: flat, amount: "0.10"}}],'
        ' default: {type: rate, amount: "0.30", unit: minutes}}'
    )
    tariff_text = TARIFF.replace('default: {type: rate, amount: "MINUTE", unit: minutes, increment: 1}', ranged)
    engine.load_catalog(parse_document(tariff_text.replace("ABROAD", "0.90").replace("TEXT", "0.08"), source="tariff.yaml"))

    assert engine.recharge("ann-line", MONTH, path=RatingPath.AUTO).pricing_path is PricingPath.ROW


def test_a_job_prices_each_contract_column_wise_where_it_can_and_counts_the_paths(engine: Engine, twin: Engine) -> None:
    _world(engine)
    _world(twin)
    filters = RechargeJobFilters(from_date=MONTH)

    auto = engine.run_recharge_job(engine.start_recharge_job(filters), path=RatingPath.AUTO)
    row = twin.run_recharge_job(twin.start_recharge_job(filters))

    assert (auto.recharged, auto.recharged_columnar, auto.recharged_row) == (2, 2, 0)
    assert (row.recharged, row.recharged_columnar, row.recharged_row) == (2, 0, 2)
    assert auto.compensations == row.compensations
    assert everything(engine) == everything(twin)


def test_recharges_and_their_jobs_take_the_row_path_by_default(engine: Engine) -> None:
    _world(engine)

    assert engine.recharge("ann-line", MONTH).pricing_path is PricingPath.ROW
    status = engine.run_recharge_job(engine.start_recharge_job(RechargeJobFilters(from_date=MONTH)))
    assert (status.recharged, status.recharged_columnar, status.recharged_row) == (2, 0, 2)

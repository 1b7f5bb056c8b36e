"""Activations in restoration points and recharges, on SQLite and PostgreSQL.

Fee runs change activations (created with their first period, each charged period moves the last activation date,
a payer who cannot cover a period suspends it, a run settles an expiry); a restoration point rebuilds them as of its
date from the activation journal, and a recharge, which does not redo fees, leaves them as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import AccessInput, AdjustmentInput, ChargeableItem, Engine, KopekError
from kopek.documents import parse_document
from kopek.errors import Code
from kopek.migration.restore import RestoreMode
from kopek.migration.state import ContractState
from kopek.store.schema import activation_journal, charged_items
from tests.fakes import FixedClock, SequentialIds
from tests.fee_world import CATALOG_YAML, at, build

CONTRACT = "ann-contract"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-03-01T12:00"))


@pytest.fixture
def engine(any_url: str, clock: FixedClock) -> Iterator[Engine]:
    """An engine whose restoration points reach back to the contracts' start (a ten-year window)."""
    with Engine(any_url, clock=clock, new_id=SequentialIds(), recharge_retention_days=3660) as opened:
        yield opened


def activations_at(engine: Engine, moment: str) -> list[tuple[str, str, datetime | None]]:
    """The activations of the restoration point at ``moment``: id, status, last activation date."""
    state = ContractState.model_validate(engine.restoration_point(CONTRACT, at(moment)).state)
    return [(activation.id, activation.status.value, activation.last_activation_date) for activation in state.activations]


def activations_now(engine: Engine) -> list[tuple[str, str, datetime | None]]:
    return [(activation.id, activation.status, activation.last_activation_date) for activation in engine.activations(CONTRACT)]


def two_runs(engine: Engine, clock: FixedClock) -> None:
    """Fees up to 1 March (the first month prorated, the one-off setup fee, after which it expires), then up to 1 June."""
    engine.run_fees(clock.now)
    clock.now = at("2026-06-01T12:00")
    engine.run_fees(clock.now)


def test_a_restoration_point_holds_the_activations_as_the_fee_periods_before_its_date_left_them(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly", "setup")
    two_runs(engine, clock)

    assert activations_at(engine, "2026-01-10T00:00") == []  # no period charged yet: no activation
    assert activations_at(engine, "2026-02-15T00:00") == [
        ("monthly", "active", at("2026-02-01")),
        ("setup", "active", at("2026-01-15T10:00")),  # its expiry was settled by the run up to 1 March
    ]
    assert activations_at(engine, "2026-03-15T00:00") == [
        ("monthly", "active", at("2026-03-01")),
        ("setup", "expired", at("2026-01-15T10:00")),
    ]
    assert activations_at(engine, "2026-05-15T00:00")[0] == ("monthly", "active", at("2026-05-01"))
    assert activations_at(engine, "2026-06-01T00:00")[0] == ("monthly", "active", at("2026-05-01"))  # June's period starts then
    assert activations_at(engine, "2026-06-01T12:00") == activations_now(engine)


def test_a_suspension_and_its_end_are_restored_at_their_periods(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly", balance="20.00")
    engine.run_fees(clock.now)  # 16.45 for January; February's 30.00 cannot be covered: suspended
    assert activations_now(engine) == [("monthly", "suspended", at("2026-01-15T10:00"))]
    engine.adjust_balance("ann-prepaid", AdjustmentInput.model_validate({"amount": "200.00", "reason": "top-up"}))
    clock.now = at("2026-06-01T12:00")
    engine.run_fees(clock.now)  # February to June

    assert activations_at(engine, "2026-01-20T00:00") == [("monthly", "active", at("2026-01-15T10:00"))]
    assert activations_at(engine, "2026-02-10T00:00") == [("monthly", "active", at("2026-02-01"))]
    assert activations_now(engine) == [("monthly", "active", at("2026-06-01"))]


def test_the_restoration_point_of_a_contract_without_fees_has_no_activation(engine: Engine, clock: FixedClock) -> None:
    build(engine, "weekly")  # a plan with fees, never run

    assert activations_at(engine, "2026-02-01T00:00") == []


def _usage(engine: Engine) -> None:
    engine.create_access(
        AccessInput.model_validate({"service_id": "sms", "user_id": "ann", "contract_id": CONTRACT, "valid_from": "2026-01-15T10:00:00Z"})
    )
    for day in ("2026-05-04T10:00", "2026-05-20T10:00"):
        engine.charge(ChargeableItem("sms", at(day), "sms", "ann", {"destination": "national"}))


def _fee_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.database.connect() as connection:
        query = (
            sa.select(charged_items.c.id, charged_items.c.amount, charged_items.c.superseded_by)
            .where(charged_items.c.item_class == "fee")
            .order_by(charged_items.c.id)
        )
        return [tuple(row) for row in connection.execute(query)]


def test_a_recharge_leaves_the_activations_and_the_fees_as_they_are(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly", "setup")
    two_runs(engine, clock)
    _usage(engine)
    activations, fees, point = activations_now(engine), _fee_rows(engine), activations_at(engine, "2026-05-01T00:00")
    engine.load_catalog(parse_document(CATALOG_YAML.replace('amount: "0.10"', 'amount: "0.08"'), source="fees.yaml"))

    result = engine.recharge(CONTRACT, at("2026-05-01T00:00"))

    assert (result.items_recharged, result.items_changed) == (2, 2)
    assert [(each.account_id, each.amount) for each in result.compensations] == [("ann-prepaid", Decimal("0.04"))]
    # Fees are not charged again: their activations, their charged items and the rebuilt activations stay as they were.
    assert activations_now(engine) == activations
    assert _fee_rows(engine) == fees
    assert (
        activations_at(engine, "2026-05-01T00:00")
        == point
        == [
            ("monthly", "active", at("2026-04-01")),
            ("setup", "expired", at("2026-01-15T10:00")),
        ]
    )


def _refused(engine: Engine, moment: str) -> KopekError:
    with pytest.raises(KopekError) as refused:
        engine.restoration_point(CONTRACT, at(moment))
    return refused.value


def test_fee_periods_charged_before_the_activation_journal_began_put_the_point_out_of_reach(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly")
    two_runs(engine, clock)
    with engine.database.begin() as connection:  # as a database upgraded after these runs holds them
        connection.execute(sa.delete(activation_journal))

    assert _refused(engine, "2026-05-15T00:00").code is Code.RESTORATION_POINT_OUT_OF_REACH
    assert activations_at(engine, "2026-06-01T12:00") == activations_now(engine)  # no period since: nothing to rebuild


def test_fee_periods_charged_before_a_contract_state_restore_put_the_point_out_of_reach(engine: Engine, clock: FixedClock) -> None:
    build(engine, "monthly")
    two_runs(engine, clock)
    (state,) = engine.export_contract_states([CONTRACT])
    clock.advance(hours=1)
    engine.begin_migration([CONTRACT])
    engine.restore_contract_states([state.line()], RestoreMode.ALL_OR_NOTHING)
    engine.end_migration([CONTRACT])

    assert _refused(engine, "2026-05-15T00:00").code is Code.RESTORATION_POINT_OUT_OF_REACH


def test_pruning_deletes_the_activation_journal_before_the_window_with_the_counter_journal(any_url: str, clock: FixedClock) -> None:
    with Engine(any_url, clock=clock, new_id=SequentialIds(), recharge_retention_days=60) as engine:
        build(engine, "monthly")
        two_runs(engine, clock)  # the first run's entries are 92 days old, the second's are new

        pruned = engine.prune_counter_journal()

        with engine.database.connect() as connection:
            left = connection.execute(sa.select(activation_journal.c.effective_at).order_by(activation_journal.c.id)).scalars().all()
        assert pruned.deleted >= 3  # the first run's periods: 15 January, 1 February, 1 March
        assert left == [at("2026-04-01"), at("2026-05-01"), at("2026-06-01")]
        assert activations_at(engine, "2026-04-15T00:00") == [("monthly", "active", at("2026-04-01"))]

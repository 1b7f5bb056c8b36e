"""Recharging on SQLite and PostgreSQL: restoration points, corrections and compensations, exactness, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from kopek import ChargeableItem, Engine, KopekError
from kopek.charging.refills import RefillCommand
from kopek.charging.session_views import StartSession, StopSession, UpdateSession
from kopek.errors import Category, Code, Reason
from kopek.migration.state import ContractState
from kopek.recharging.recharge import RechargeCommand, RechargeRun, _lock, recharge
from kopek.store.schema import charged_items, contracts, recharges
from kopek.store.uow import UnitOfWork
from tests.fakes import FixedClock, SequentialIds
from tests.integration.support import snapshot
from tests.recharge_world import CORRECTED, MONTH, NOW, WRONG, build, call, compensations, figures, month_of_usage, tariff, text


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def world(engine: Engine) -> Engine:
    build(engine)
    for holder in ("ann", "ben"):
        for item in month_of_usage(holder):
            engine.charge(item)
    return engine


@pytest.fixture
def fresh(any_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Another database of the same kind, where the same month is charged once, with the corrected tariff."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if any_url.startswith("sqlite") else str(request.getfixturevalue("fresh_postgres_url"))
    with Engine(url, clock=FixedClock(NOW), new_id=SequentialIds("fresh")) as opened:
        build(opened, minute=CORRECTED[0], text=CORRECTED[1])
        for holder in ("ann", "ben"):
            for item in month_of_usage(holder):
                opened.charge(item)
        yield opened


def correct(engine: Engine) -> None:
    engine.load_catalog(tariff(*CORRECTED))


def test_a_corrected_tariff_is_written_as_one_compensating_operation_per_account(world: Engine) -> None:
    correct(world)

    result = world.recharge("ann-line", MONTH)

    # Calls of 7, 5, 3 and 12 minutes: 10 free, then 2 + 3 + 12 = 17 paid minutes; 3 texts. 0.20 and 0.10 charged
    # 3.70; 0.15 and 0.08 make 2.79: 0.91 back.
    assert (result.items_recharged, result.items_changed, result.items_refused) == (7, 6, 0)
    assert [(each.account_id, each.amount, each.balance_after) for each in result.compensations] == [
        ("ann-prepaid", Decimal("0.91"), Decimal("47.21"))
    ]
    assert world.account("ann-prepaid").balance == Decimal("47.21")
    assert (result.charged_items_superseded, result.correction_rows) == (6, 12)
    assert world.verify_ledger().consistent


def test_a_recharge_leaves_what_charging_once_with_the_corrected_tariff_leaves(world: Engine, fresh: Engine) -> None:
    correct(world)

    world.recharge("ann-line", MONTH)
    world.recharge("ben-line", MONTH)

    assert figures(world) == figures(fresh)


def test_recharging_twice_is_recharging_once(world: Engine) -> None:
    correct(world)
    world.recharge("ann-line", MONTH)
    once = figures(world), compensations(world)

    again = world.recharge("ann-line", MONTH)

    assert (again.items_changed, again.compensations, again.correction_rows, again.counters_changed) == (0, [], 0, 0)
    assert (figures(world), compensations(world)) == once


def test_recharging_with_the_unchanged_catalog_writes_no_account_operation_and_no_charged_item(world: Engine) -> None:
    before = figures(world)

    result = world.recharge("ben-line", MONTH, catalog_version=1)

    assert (result.items_recharged, result.items_changed, result.compensations, result.correction_rows) == (7, 0, [], 0)
    assert figures(world) == before
    assert compensations(world) == []


def test_a_late_item_takes_its_place_in_consumption_order(engine: Engine) -> None:
    build(engine)
    engine.charge(call("ann", 20, 600))  # the ten free minutes, all of them
    engine.charge(call("ann", 5, 300))  # late: consumed before, charged after; paid in full
    assert engine.account("ann-prepaid").balance == Decimal("49.00")

    result = engine.recharge("ann-line", MONTH, catalog_version=1)

    # In its place, the late call takes five of the free minutes and the other call pays the five minutes it left:
    # both items change, the balance does not.
    assert (result.items_changed, result.compensations) == (2, [])
    with engine.database.connect() as connection:
        standing = connection.execute(
            sa.select(charged_items.c.consumption_date, charged_items.c.amount)
            .where(charged_items.c.superseded_by.is_(None), charged_items.c.reverses_id.is_(None))
            .order_by(charged_items.c.consumption_date)
        ).all()
    assert [amount for _, amount in standing] == [Decimal("0.00"), Decimal("1.00")]
    assert engine.account("ann-prepaid").balance == Decimal("49.00")
    assert engine.verify_ledger().consistent


def test_a_recharge_from_a_later_date_keeps_the_items_before_it(world: Engine) -> None:
    correct(world)

    result = world.recharge("ann-line", MONTH + timedelta(days=14))

    # Texts of the 15th (two), calls of the 21st (3 minutes) and 28th (12 minutes): 15 minutes and 2 texts.
    assert result.items_recharged == 4
    assert [(each.account_id, each.amount) for each in result.compensations] == [("ann-prepaid", Decimal("0.79"))]


def test_the_restoration_point_is_the_state_before_the_first_item_consumed_from_then(world: Engine) -> None:
    point = world.restoration_point("ann-line", MONTH + timedelta(days=14))

    # Seven and five minutes used of the ten free ones before the 15th: zero left.
    state = ContractState.model_validate(point.state)
    assert {counter.name: counter.value for counter in state.shared_counters} == {"free_minutes": 0}
    assert point.items_since == 4
    assert [(effect.account_id, effect.amount) for effect in point.account_effects] == [("ann-prepaid", Decimal("-3.20"))]

    empty = world.restoration_point("ann-line", MONTH)
    assert (ContractState.model_validate(empty.state).shared_counters, empty.items_since) == ((), 7)


def test_charging_a_contract_being_recharged_is_refused_with_the_recharging_reason_and_a_later_recharge_takes_over(world: Engine) -> None:
    correct(world)
    command = RechargeCommand("ann-line", MONTH)
    _lock(command, world._charging, RechargeRun("test", 93), "recharge-interrupted")  # the first step, as a killed process leaves it

    with pytest.raises(KopekError) as refused:
        world.charge(text("ann", 30))
    assert (refused.value.category, refused.value.reason, refused.value.code) == (
        Category.ILLEGAL_STATE,
        Reason.RECHARGING,
        Code.CONTRACT_LOCKED,
    )

    result = world.recharge("ann-line", MONTH)

    assert result.compensations[0].amount == Decimal("0.91")
    with world.database.connect() as connection:
        states = dict(connection.execute(sa.select(recharges.c.id, recharges.c.state)).all())
        status = connection.execute(sa.select(contracts.c.status).where(contracts.c.id == "ann-line")).scalar_one()
    assert states == {"recharge-interrupted": "failed", result.recharge_id: "done"}
    assert status == "active"
    world.charge(text("ann", 30))


def test_a_failed_recharge_leaves_the_previous_state_and_unlocks(world: Engine) -> None:
    correct(world)
    before = snapshot(world), figures(world)

    def fail(_: UnitOfWork) -> None:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        recharge(RechargeCommand("ann-line", MONTH), world._charging, RechargeRun("test", 93, with_commit=fail))

    assert (snapshot(world), figures(world)) == before
    assert world.contract("ann-line").status == "active"
    world.charge(text("ann", 30))


def test_a_prepaid_balance_is_not_taken_below_its_floor_by_a_recharge(engine: Engine) -> None:
    build(engine, minute="0.01", text="0.01", ann_balance="0.50")
    for item in month_of_usage("ann"):
        engine.charge(item)
    engine.load_catalog(tariff("1.00", "1.00"))

    with pytest.raises(KopekError) as refused:
        engine.recharge("ann-line", MONTH)

    assert (refused.value.reason, refused.value.code) == (Reason.CANNOT_CHARGE_ACCOUNT, Code.INSUFFICIENT_BALANCE)
    assert engine.contract("ann-line").status == "active"
    assert engine.account("ann-prepaid").balance == Decimal("0.50") - Decimal("0.17") - Decimal("0.03")


@pytest.mark.parametrize(
    ("days_back", "code"),
    [
        pytest.param(200, Code.RESTORATION_POINT_OUT_OF_REACH, id="before-the-retention-window"),
    ],
)
def test_restoration_points_out_of_reach_are_refused(world: Engine, days_back: int, code: Code) -> None:
    with pytest.raises(KopekError) as refused:
        world.recharge("ann-line", NOW - timedelta(days=days_back))

    assert (refused.value.category, refused.value.code) == (Category.ILLEGAL_STATE, code)
    assert world.contract("ann-line").status == "active"


def test_recharging_an_unknown_contract_is_refused_as_missing(world: Engine) -> None:
    with pytest.raises(KopekError) as missing:
        world.recharge("nobody", MONTH)
    assert missing.value.code is Code.NOT_FOUND


def test_correction_rows_reverse_the_superseded_items_and_go_to_the_next_item_files(world: Engine) -> None:
    correct(world)
    result = world.recharge("ann-line", MONTH)

    with world.database.connect() as connection:
        rows = connection.execute(sa.select(charged_items).where(charged_items.c.contract_id == "ann-line")).mappings().all()
    originals = {row["id"]: row for row in rows if row["recharge_id"] is None}
    reversals = [row for row in rows if row["reverses_id"] is not None]
    superseded = [row for row in originals.values() if row["superseded_by"] == result.recharge_id]
    assert len(superseded) == len(reversals) == 6
    for reversal in reversals:
        assert reversal["amount"] == -originals[reversal["reverses_id"]]["amount"]
        assert reversal["recharge_id"] == result.recharge_id
    total = sum((row["amount"] for row in rows), Decimal(0))
    assert total == Decimal("2.79")


def _session(session_id: str, at: datetime, seconds: str = "60") -> StartSession:
    return StartSession(session_id, "call", "mobile", "ann", at, ttl_ms=600_000, quantity_property="duration", requested_quantity=seconds)


def test_a_live_session_whose_grant_holds_no_counter_stays_as_it_is_and_ends_on_the_corrected_state(world: Engine) -> None:
    correct(world)
    # June's free minutes are all used: the grant reserves money and holds no counter.
    started = world.start_session(_session("late-call", MONTH + timedelta(days=29)))
    assert (started.granted_quantity, started.reserved_amount) == (Decimal(60), Decimal("0.15"))

    result = world.recharge("ann-line", MONTH)

    assert [(each.account_id, each.amount, each.balance_after) for each in result.compensations] == [
        ("ann-prepaid", Decimal("0.91"), Decimal("47.21"))
    ]
    live = world.session("late-call")
    assert (live.status, live.reserved_amount) == ("active", Decimal("0.15"))
    world.stop_session(StopSession("late-call", used_quantity="60"))
    assert world.account("ann-prepaid").balance == Decimal("47.06")
    assert world.verify_ledger().consistent


def test_a_live_session_whose_grant_holds_counters_refuses_the_recharge(world: Engine) -> None:
    correct(world)
    world.start_session(_session("july-call", MONTH + timedelta(days=30)))  # holds one of July's free minutes
    before = figures(world)

    with pytest.raises(KopekError) as refused:
        world.recharge("ann-line", MONTH)

    assert (refused.value.category, refused.value.code) == (Category.ILLEGAL_STATE, Code.CONTRACT_HAS_LIVE_SESSIONS)
    assert "july-call" in refused.value.message
    assert (figures(world), world.contract("ann-line").status) == (before, "active")


def test_a_live_session_that_charged_usage_since_the_date_refuses_the_recharge(world: Engine) -> None:
    correct(world)
    world.start_session(_session("long-call", MONTH + timedelta(days=29), seconds="120"))
    world.update_session(UpdateSession("long-call", used_quantity="60", requested_quantity="60"))

    with pytest.raises(KopekError) as refused:
        world.recharge("ann-line", MONTH)

    assert refused.value.code is Code.CONTRACT_HAS_LIVE_SESSIONS
    assert "charged usage since" in refused.value.message
    world.stop_session(StopSession("long-call", used_quantity="60"))
    assert world.recharge("ann-line", MONTH).items_recharged == 9


TOPUP = {"name": "topup", "currency": "EUR", "account_role": "payer", "amount": "5.00",
         "bonus": {"counter": "free_minutes", "units": "5", "expires_after_days": 30}}  # fmt: skip


def _with_topup(minute: str, text_price: str) -> dict[str, object]:
    return {**tariff(minute, text_price), "refill_plans": [TOPUP]}


@pytest.fixture
def twin(any_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Engine, FixedClock]]:
    """Another database of the same kind, empty, on a clock of its own."""
    url = f"sqlite:///{tmp_path / 'twin.db'}" if any_url.startswith("sqlite") else str(request.getfixturevalue("fresh_postgres_url"))
    clock = FixedClock(NOW)
    with Engine(url, clock=clock, new_id=SequentialIds("twin")) as opened:
        yield opened, clock


def _run(engine: Engine, clock: FixedClock, events: list[tuple[datetime, object]]) -> None:
    """Each event at its date on the engine's clock: a chargeable item charged, or a top-up of ann's line."""
    for at, event in events:
        clock.now = at
        if event == "topup":
            engine.refill(RefillCommand(f"topup-{at:%d}", "ann-line", "topup"))
        else:
            assert isinstance(event, ChargeableItem)
            engine.charge(event)


def test_a_refills_bonus_units_are_put_again_in_their_place_among_the_items(
    engine: Engine, clock: FixedClock, twin: tuple[Engine, FixedClock]
) -> None:
    build(engine)
    engine.load_catalog(_with_topup(*WRONG))
    late = call("ann", 4, 600)
    arrived = [
        (call("ann", 3, 420).consumption_date, call("ann", 3, 420)),  # 7 of the 10 free minutes
        (MONTH + timedelta(days=4), "topup"),  # June the 5th: 5 free minutes more
        (call("ann", 9, 300).consumption_date, call("ann", 9, 300)),
        (call("ann", 21, 170).consumption_date, call("ann", 21, 170)),
        (MONTH + timedelta(days=24), late),  # consumed on the 4th, before the top-up; charged on the 25th
    ]
    _run(engine, clock, arrived)
    engine.load_catalog(_with_topup(*CORRECTED))
    clock.now = NOW

    result = engine.recharge("ann-line", MONTH)

    # In consumption order: 7 free; the late call 3 free and 7 paid; the top-up's 5; 5 free; 3 paid: 10 paid minutes at
    # 0.15 = 1.50, where 0, 0, 0 and 10 minutes at 0.20 = 2.00 were charged.
    assert (result.items_recharged, result.items_changed) == (4, 2)
    assert [(each.account_id, each.amount) for each in result.compensations] == [("ann-prepaid", Decimal("0.50"))]
    fresh, fresh_clock = twin
    build(fresh, minute=CORRECTED[0], text=CORRECTED[1])
    fresh.load_catalog(_with_topup(*CORRECTED))
    in_order = sorted(
        ((event.consumption_date if isinstance(event, ChargeableItem) else at, event) for at, event in arrived), key=lambda pair: pair[0]
    )
    _run(fresh, fresh_clock, in_order)  # each at its consumption date: the late call before the top-up
    assert figures(engine) == figures(fresh)
    assert engine.recharge("ann-line", MONTH).items_changed == 0
    assert engine.verify_ledger().consistent

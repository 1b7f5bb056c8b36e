"""Stored notifications: listed a page at a time; low balance raised by charging, sessions and refills."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from kopek import Engine
from kopek.charging.refills import RefillCommand
from kopek.charging.results import ResultOptions
from kopek.charging.session_views import StartSession, StopSession
from kopek.errors import Code, InvalidError
from kopek.limits import LIST_PAGE_SIZE_MAX
from kopek.rating.outcome import NotificationKind
from tests.notify_support import add_prepaid, call, load_catalog_with_topup, sms
from tests.worlds import AT

NOTIFIED = ResultOptions(notifications=True)


@pytest.fixture
def world(engine: Engine) -> Engine:
    """carol: 1.00 EUR prepaid, low balance threshold 0.75; dave: 10.00 EUR, no threshold."""
    load_catalog_with_topup(engine)
    add_prepaid(engine, "carol", balance="1.00", threshold="0.75")
    add_prepaid(engine, "dave", balance="10.00", threshold=None)
    return engine


def _kinds(engine: Engine, contract_id: str) -> list[str]:
    return [note.kind.value for note in engine.notifications(contract_id=contract_id)]


def test_a_charge_crossing_the_threshold_returns_and_stores_low_balance_once(world: Engine) -> None:
    results = [world.charge(sms("carol"), NOTIFIED) for _ in range(4)]  # 0.90, 0.80, 0.70 (crossed), 0.60

    told = [[note.kind for note in result.notifications or []] for result in results]
    assert told == [[], [], ["low_balance"], []]
    (stored,) = world.notifications(contract_id="carol-contract", kind=NotificationKind.LOW_BALANCE)
    assert stored.data == {
        "account_id": "carol-prepaid",
        "subscriber_account_id": "carol",
        "threshold": "0.75",
        "balance": "0.70",
        "currency": "EUR",
    }
    assert (stored.operation_id, stored.subscriber_account_id, stored.published_at) == (results[2].operation_id, "carol", None)


def test_a_refill_above_the_threshold_rearms_it_and_the_next_crossing_tells_again(world: Engine) -> None:
    for _ in range(3):
        world.charge(sms("carol"))  # 0.70: crossed once
    world.charge(sms("carol"))  # 0.60: still below, nothing

    world.refill(RefillCommand("refill-1", "carol-contract", "topup", Decimal("0.30")))  # 0.90
    world.charge(sms("carol"))  # 0.80
    crossed_again = world.charge(sms("carol"), NOTIFIED)  # 0.70

    assert [note.kind for note in crossed_again.notifications or []] == ["low_balance"]
    assert _kinds(world, "carol-contract") == ["low_balance", "refill_applied", "low_balance"]


def test_an_account_without_threshold_never_tells_low_balance(world: Engine) -> None:
    for _ in range(5):
        world.charge(sms("dave"))

    assert _kinds(world, "dave-contract") == []


def test_session_usage_settles_through_the_same_low_balance_rule(world: Engine) -> None:
    world.start_session(
        StartSession(
            session_id="s1",
            item_class="voice_call",
            service_id="mobile",
            user_id="carol-msisdn",
            consumption_date=AT,
            ttl_ms=60_000,
            quantity_property="duration",
            properties={"destination": "33123"},
            requested_quantity="120",
        )
    )
    stopped = world.stop_session(StopSession("s1", "120"))  # 60 s free, then one minute: 0.60 -> 0.40

    assert "low_balance" in [note.kind for note in stopped.notifications]
    assert "low_balance" in _kinds(world, "carol-contract")


def test_notifications_are_listed_oldest_first_a_page_at_a_time_with_filters(world: Engine) -> None:
    world.charge(call("dave", seconds="120"))  # allowance_exhausted
    for _ in range(3):
        world.charge(sms("carol"))  # low_balance at the third
    world.charge(call("carol", seconds="120", at=AT + timedelta(minutes=1)))  # allowance_exhausted

    every = world.notifications()
    first, second = world.notifications(limit=2), world.notifications(after_id=every[1].id, limit=2)

    assert [note.id for note in every] == sorted(note.id for note in every)
    assert [note.kind.value for note in every] == ["allowance_exhausted", "low_balance", "allowance_exhausted"]
    assert [note.contract_id for note in every] == ["dave-contract", "carol-contract", "carol-contract"]
    assert [note.subscriber_account_id for note in every] == ["dave", "carol", "carol"]
    assert first + second == every
    assert [note.kind.value for note in world.notifications(contract_id="carol-contract")] == ["low_balance", "allowance_exhausted"]
    assert len(world.notifications(kind=NotificationKind.ALLOWANCE_EXHAUSTED)) == 2
    assert world.notifications(contract_id="nobody") == []


def test_a_page_larger_than_the_bound_is_refused(world: Engine) -> None:
    with pytest.raises(InvalidError) as refused:
        world.notifications(limit=LIST_PAGE_SIZE_MAX + 1)

    assert refused.value.code is Code.LIMIT_EXCEEDED
    assert world.notifications(limit=LIST_PAGE_SIZE_MAX) == []


def test_the_outbox_hands_out_unpublished_notifications_in_id_order_until_marked(world: Engine) -> None:
    for _ in range(3):
        world.charge(sms("carol"))
    world.charge(call("dave", seconds="120"))
    outbox = world.notification_outbox()
    pending = outbox.pending(10)

    outbox.mark_published([pending[0].id])

    assert [note.id for note in pending] == [note.id for note in world.notifications()]
    assert [note.id for note in outbox.pending(10)] == [note.id for note in pending[1:]]
    assert world.notifications()[0].published_at == world.now()


def test_master_data_files_set_the_threshold_of_prepaid_accounts_only(engine: Engine, tmp_path: Path) -> None:
    load_catalog_with_topup(engine)
    accounts = [
        {"id": "erin-prepaid", "kind": "prepaid", "initial_balance": "5", "low_balance_threshold": "1.5"},
        {"id": "erin-postpaid", "kind": "postpaid"},
    ]
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"subscriber_accounts": [{"id": "erin", "currency": "EUR", "accounts": accounts}]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"subscriber_accounts": [{"id": "frank", "currency": "EUR", "accounts": [
        {"id": "frank-postpaid", "kind": "postpaid", "low_balance_threshold": "1"}
    ]}]}))  # fmt: skip

    engine.load_master_data(good)
    with pytest.raises(InvalidError) as refused:
        engine.load_master_data(bad)

    assert engine.account("erin-prepaid").low_balance_threshold == Decimal("1.5")
    assert engine.account("erin-postpaid").low_balance_threshold is None
    assert refused.value.code is Code.MASTER_DATA_INVALID

"""A timed session's reports are priced by the schedule windows they really fall in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kopek import AccessInput, ContractInput, Engine, KopekError, SubscriberAccountInput
from kopek.charging.session_views import SessionResult, StartSession, StopSession, UpdateSession
from kopek.documents import parse_document

CATALOG = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
charge_plans:
  - name: peak_offpeak
    currency: EUR
    charges:
      - name: voice
        item_class: call
        account_role: prepaid
        rounding: {decimals: 2, mode: half_up}
        price:
          type: schedule
          time_zone: UTC
          windows:
            - {from: "08:00", to: "20:00", price: {type: rate, amount: "0.60", unit: minutes}}
          default: {type: rate, amount: "0.06", unit: minutes}
"""


def _world(engine: Engine) -> None:
    engine.load_catalog(parse_document(CATALOG, source="schedule.yaml"))
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {"id": "eve", "currency": "EUR", "accounts": [{"id": "eve-prepaid", "kind": "prepaid", "initial_balance": "100"}]}
        )
    )
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "eve-contract",
                "subscriber_account_id": "eve",
                "valid_from": "2026-01-01T00:00:00+00:00",
                "items": [{"id": "main", "charge_plan": "peak_offpeak"}],
                "roles": {"prepaid": "eve-prepaid"},
            }
        )
    )
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "voice", "user_id": "eve", "contract_id": "eve-contract", "valid_from": "2026-01-01T00:00:00+00:00"}
        )
    )


def test_second_report_of_a_call_started_before_off_peak_is_priced_off_peak(engine: Engine) -> None:
    _world(engine)
    # 19:50 start. First report: 10 minutes (19:50-20:00, peak) = 6.00.
    # Second report: 10 minutes (20:00-20:10, off-peak) = 0.60.
    start = StartSession(
        session_id="s1",
        item_class="call",
        service_id="voice",
        user_id="eve",
        consumption_date=datetime(2026, 6, 1, 19, 50, tzinfo=UTC),
        ttl_ms=60_000,
        quantity_property="duration",
        requested_quantity="600",
    )
    engine.start_session(start)
    first = engine.update_session(UpdateSession(session_id="s1", used_quantity="600", requested_quantity="600"))
    second = engine.update_session(UpdateSession(session_id="s1", used_quantity="600", requested_quantity="600"))
    assert first.charge is not None and second.charge is not None
    assert first.charge.charged_items is not None and second.charge.charged_items is not None
    assert [first.charge.charged_items[0].amount, second.charge.charged_items[0].amount] == [Decimal("6.00"), Decimal("0.60")]


def _start_at_1950(engine: Engine) -> None:
    _world(engine)
    engine.start_session(
        StartSession("s1", "call", "voice", "eve", datetime(2026, 6, 1, 19, 50, tzinfo=UTC), 60_000, "duration", requested_quantity="600")
    )


def _amount(result: SessionResult) -> Decimal:
    assert result.charge is not None and result.charge.charged_items is not None
    return result.charge.charged_items[0].amount


def test_a_report_dated_by_the_network_is_priced_at_that_date(engine: Engine) -> None:
    # The call was put on hold: its second 10 minutes began at 20:30 (off-peak), its third at 07:55 the next day.
    _start_at_1950(engine)
    first = engine.update_session(UpdateSession("s1", used_quantity="600", requested_quantity="600"))
    second = engine.update_session(
        UpdateSession("s1", "600", "600", consumption_date=datetime(2026, 6, 1, 22, 30, tzinfo=timezone(timedelta(hours=2))))
    )
    third = engine.stop_session(StopSession("s1", "600", consumption_date=datetime(2026, 6, 2, 7, 55, tzinfo=UTC)))

    assert [_amount(first), _amount(second), _amount(third)] == [Decimal("6.00"), Decimal("0.60"), Decimal("0.30") + Decimal("3.00")]
    assert third.charge is not None and third.charge.chargeable_item_info is not None
    assert third.charge.chargeable_item_info.consumption_date == datetime(2026, 6, 2, 7, 55, tzinfo=UTC)


def test_the_next_grant_after_a_dated_report_is_priced_from_where_that_usage_ended(engine: Engine) -> None:
    _start_at_1950(engine)
    # 10 minutes from 07:50 end at 08:00, so the next 10 minutes are peak: 6.00 reserved, not 0.60.
    updated = engine.update_session(UpdateSession("s1", "600", "600", consumption_date=datetime(2026, 6, 2, 7, 50, tzinfo=UTC)))

    assert _amount(updated) == Decimal("0.60")
    assert updated.reserved_amount == Decimal("6.00")


def test_a_report_without_a_date_resumes_where_the_last_dated_usage_ended(engine: Engine) -> None:
    _start_at_1950(engine)
    # 07:50-08:00 off-peak; the next 10 minutes, undated, run 08:00-08:10: peak (not 20:10 counted from the start).
    dated = engine.update_session(UpdateSession("s1", "600", "600", consumption_date=datetime(2026, 6, 2, 7, 50, tzinfo=UTC)))
    undated = engine.stop_session(StopSession("s1", "600"))

    assert [_amount(dated), _amount(undated)] == [Decimal("0.60"), Decimal("6.00")]
    assert undated.charge is not None and undated.charge.chargeable_item_info is not None
    assert undated.charge.chargeable_item_info.consumption_date == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "code"),
    [
        (datetime(2026, 6, 1, 19, 49, tzinfo=UTC), "request_invalid"),  # before the session started
        (datetime(2026, 6, 1, 20, 30), "request_invalid"),  # no offset
    ],
)
def test_a_report_dated_before_its_session_or_without_an_offset_is_refused_and_changes_nothing(
    engine: Engine, moment: datetime, code: str
) -> None:
    _start_at_1950(engine)
    before = engine.session("s1")

    with pytest.raises(KopekError) as refused:
        engine.update_session(UpdateSession("s1", "600", "600", consumption_date=moment))

    assert refused.value.category.value == "INVALID" and refused.value.code.value == code
    assert engine.session("s1") == before
    assert engine.account("eve-prepaid").balance == Decimal(100)


def test_a_key_reused_with_another_date_is_refused_and_the_same_instant_replays(engine: Engine) -> None:
    _start_at_1950(engine)
    at_2030 = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)
    engine.update_session(UpdateSession("s1", "600", "600", idempotency_key="u-1", consumption_date=at_2030))

    same_instant = at_2030.astimezone(timezone(timedelta(hours=2)))
    assert engine.update_session(UpdateSession("s1", "600", "600", idempotency_key="u-1", consumption_date=same_instant)).replayed
    with pytest.raises(KopekError) as refused:
        engine.update_session(UpdateSession("s1", "600", "600", idempotency_key="u-1", consumption_date=at_2030 + timedelta(minutes=30)))
    assert refused.value.category.value == "ALREADY_EXISTS"

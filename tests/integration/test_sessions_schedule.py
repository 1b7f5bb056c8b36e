"""A timed session's reports are priced by the schedule windows they really fall in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kopek import AccessInput, ContractInput, Engine, SubscriberAccountInput
from kopek.charging.session_views import StartSession, UpdateSession
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

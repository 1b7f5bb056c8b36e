"""A charging world for the protocol adapters: a subscriber a 5G SMF or a 4G PGW names by IMSI or MSISDN.

Catalog: data at 1.00 EUR per started megabyte, voice at 0.60 EUR per started minute, content
at 0.50 EUR per event; a top-up refill plan. ``alice`` is prepaid with 10.00 EUR; her accesses are
``(mobile, 001010000000001)`` (her IMSI) and ``(mobile, 33600000001)`` (her MSISDN).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kopek import AccessInput, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document
from kopek.protocols.mapping import ProtocolMapping, mapping_from_document

CATALOG_YAML = """
item_classes:
  - name: data_session
    quantity: volume
    properties:
      - {name: volume, type: integer, unit: bytes}
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: destination, type: string}
  - name: content
    quantity: units
    properties:
      - {name: units, type: integer, unit: events}
charge_plans:
  - name: mobile
    currency: EUR
    charges:
      - name: data
        item_class: data_session
        account_role: payer
        rounding: {decimals: 2, mode: half_up}
        price: {type: rate, amount: "1.00", unit: megabytes, increment: 1}
      - name: voice
        item_class: voice_call
        account_role: payer
        rounding: {decimals: 2, mode: half_up}
        price: {type: rate, amount: "0.60", unit: minutes, increment: 1}
      - name: content
        item_class: content
        account_role: payer
        price: {type: rate, amount: "0.50", unit: events}
refill_plans:
  - name: topup
    currency: EUR
    min_amount: "1"
    max_amount: "100"
    account_role: payer
"""

MAPPING_YAML = """
subscribers:
  - {pattern: '^imsi-(?P<user>[0-9]{5,15})$', service_id: mobile}
  - {pattern: '^msisdn-(?P<user>[0-9]{5,15})$', service_id: mobile}
rating_groups:
  10:
    item_class: data_session
    unit: volume
    default_quota: 1000000
    final_unit: {action: REDIRECT, redirect_address_type: URL, redirect_server_address: "http://topup.example/"}
  20:
    item_class: voice_call
    unit: time
    default_quota: 600
    properties: {destination: "33123"}
    final_unit: {action: TERMINATE}
  30:
    item_class: content
    unit: service_specific_units
    default_quota: 5
    final_unit: {action: RESTRICT_ACCESS, filter_id: walled-garden}
  40: {item_class: data_session, unit: volume, default_quota: 1000, quota_management: false}
  50: {item_class: voice_call, unit: time, default_quota: 60, service_id: fixed, properties: {destination: "33123"}}
validity_time_seconds: 600
quota_threshold_percent: 20
refund_refill_plan: topup
"""

IMSI = "imsi-001010000000001"
MSISDN = "msisdn-33600000001"
START = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MEGABYTE = 1_000_000


def mapping() -> ProtocolMapping:
    return mapping_from_document(parse_document(MAPPING_YAML, source="mapping.yaml"), source="mapping.yaml")


def catalog_document() -> Any:
    return parse_document(CATALOG_YAML, source="protocol-world.yaml")


def build_world(engine: Engine, *, balance: str = "10.00") -> None:
    engine.load_catalog(catalog_document())
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {"id": "alice", "currency": "EUR", "accounts": [{"id": "alice-prepaid", "kind": "prepaid", "initial_balance": balance}]}
        )
    )
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "alice-contract",
                "subscriber_account_id": "alice",
                "valid_from": START.isoformat(),
                "items": [{"id": "main", "charge_plan": "mobile"}],
                "roles": {"payer": "alice-prepaid"},
            }
        )
    )
    for user_id in ("001010000000001", "33600000001"):
        engine.create_access(
            AccessInput.model_validate(
                {"service_id": "mobile", "user_id": user_id, "contract_id": "alice-contract", "valid_from": START.isoformat()}
            )
        )


def balance(engine: Engine) -> Decimal:
    return engine.account("alice-prepaid").balance


def reserved(engine: Engine) -> Decimal:
    return sum((session.reserved_amount for session in engine.live_sessions("alice")), Decimal(0))

"""A small, readable charging world for integration and end-to-end tests.

Catalog: voice calls priced by destination prefix with a per-minute then per-second
rate and a monthly allowance, SMS at a flat price, data in graduated tiers.
Subscribers: ``alice`` (prepaid, 10.00 EUR), ``bob`` (postpaid, limit 100.00 EUR).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kopek import AccessInput, ChargeableItem, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document

CATALOG_YAML = """
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: destination, type: string}
      - {name: roaming, type: boolean, default: false}
  - name: sms
    properties:
      - {name: destination, type: string}
  - name: data_session
    quantity: volume
    properties:
      - {name: volume, type: integer, unit: bytes}
  - name: content
    quantity: units
    properties:
      - {name: units, type: integer, unit: events}
      - {name: pack_size, type: integer}
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: free_seconds, scope: contract_item, unit: seconds, initial: 60}
    charges:
      - name: voice
        item_class: voice_call
        account_role: payer
        rounding: {decimals: 2, mode: half_up}
        output: both
        price:
          type: allowance
          counter: free_seconds
          then:
            type: prefix
            property: destination
            prefixes:
              "33":
                type: rate
                amount: "0.60"
                unit: minutes
                increment: 1
              "44":
                type: rate
                amount: "0.02"
                unit: seconds
              "999":
                type: no_access
                message: premium numbers are barred
      - name: sms
        item_class: sms
        account_role: payer
        price: {type: flat, amount: "0.10"}
      - name: data
        item_class: data_session
        account_role: payer
        price:
          type: tiers
          mode: graduated
          unit: megabytes
          bands:
            - up_to: 100
              price: {type: rate, amount: "0.01", unit: megabytes}
            - price: {type: rate, amount: "0.005", unit: megabytes}
      - name: content
        item_class: content
        account_role: payer
        price: {type: rate, amount: "1.00", unit: events, per_property: pack_size}
"""

START = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def catalog_document() -> Any:
    return parse_document(CATALOG_YAML, source="world.yaml")


def build_world(engine: Engine, *, alice_balance: str = "10.00") -> None:
    """Load the catalog and create alice (prepaid) and bob (postpaid)."""
    engine.load_catalog(catalog_document())
    for holder, kind, extra in (
        ("alice", "prepaid", {"initial_balance": alice_balance}),
        ("bob", "postpaid", {"credit_limit": "100.00"}),
    ):
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": holder, "currency": "EUR", "accounts": [{"id": f"{holder}-{kind}", "kind": kind, **extra}]}
            )
        )
        engine.create_contract(
            ContractInput.model_validate(
                {
                    "id": f"{holder}-contract",
                    "subscriber_account_id": holder,
                    "valid_from": START.isoformat(),
                    "items": [{"id": "main", "charge_plan": "mobile"}],
                    "roles": {"payer": f"{holder}-{kind}"},
                }
            )
        )
        engine.create_access(
            AccessInput.model_validate(
                {
                    "service_id": "mobile",
                    "user_id": f"{holder}-msisdn",
                    "contract_id": f"{holder}-contract",
                    "valid_from": START.isoformat(),
                }
            )
        )


def call(user: str = "alice-msisdn", *, seconds: str = "120", destination: str = "33123", at: datetime = AT) -> ChargeableItem:
    return ChargeableItem("voice_call", at, "mobile", user, {"duration": seconds, "destination": destination})


def balance(engine: Engine, account_id: str) -> Decimal:
    return engine.account(account_id).balance

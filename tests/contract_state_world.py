"""A charging world with counters in both scopes, for the contract state migration tests.

Plan ``family``: voice calls draw on ``shared_seconds`` (contract scope, 300 s free),
then cost 0.01 EUR a second; each SMS costs 0.10 EUR and counts in ``sms_sent``
(contract item scope); ``bonus_sms`` (activation scope) is declared, for the states
of activations, and used by no charge. Subscriber ``carol`` (prepaid, 100.00 EUR) holds
``carol-contract-0`` .. ``carol-contract-{n-1}``, each with one contract item ``main``
and reached by user ``carol-msisdn-{k}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kopek import ChargeableItem, Engine
from kopek.documents import parse_document

FAMILY_CATALOG_YAML = """
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: destination, type: string}
  - name: sms
    properties:
      - {name: destination, type: string}
charge_plans:
  - name: family
    currency: EUR
    counters:
      - {name: shared_seconds, scope: contract, unit: seconds, initial: 300}
      - {name: sms_sent, scope: contract_item, unit: events}
      - {name: bonus_sms, scope: activation, unit: events}
    charges:
      - name: voice
        item_class: voice_call
        account_role: payer
        price:
          type: allowance
          counter: shared_seconds
          then: {type: rate, amount: "0.01", unit: seconds}
      - name: sms
        item_class: sms
        account_role: payer
        counter_updates:
          - {counter: sms_sent, add: one}
        price: {type: flat, amount: "0.10"}
"""

AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def family_catalog() -> Any:
    return parse_document(FAMILY_CATALOG_YAML, source="family.yaml")


def build_family(engine: Engine, *, contracts: int = 3) -> list[str]:
    """Load the family catalog and carol's contracts; returns the contract ids."""
    from tests.integration.support import add_subscriber  # storage helpers stay out of the unit tests' imports

    engine.load_catalog(family_catalog())
    add_subscriber(engine, "carol", contracts=contracts, plan="family", initial_balance="100.00")
    return [f"carol-contract-{index}" for index in range(contracts)]


def voice(contract: int, seconds: str, *, at: datetime = AT) -> ChargeableItem:
    return ChargeableItem("voice_call", at, "mobile", f"carol-msisdn-{contract}", {"duration": seconds, "destination": "33123"})


def sms(contract: int, *, at: datetime = AT) -> ChargeableItem:
    return ChargeableItem("sms", at, "mobile", f"carol-msisdn-{contract}", {"destination": "33123"})


def state_document(contract_id: str, **fields: Any) -> dict[str, Any]:
    """A contract state as JSON data: ``shared_seconds`` and ``sms_sent`` unless ``fields`` say otherwise."""
    document: dict[str, Any] = {
        "format_version": 1,
        "contract_id": contract_id,
        "last_snapshot_date": "2026-05-31T00:00:00+00:00",
        "snapshot_days": 30,
        "shared_counters": [{"namespace": "contract", "name": "shared_seconds", "unit": "seconds", "value": "120"}],
        "items": [{"item_id": "main", "counters": [{"name": "sms_sent", "unit": "events", "value": "7"}]}],
        "activations": [],
    }
    document.update(fields)
    return document

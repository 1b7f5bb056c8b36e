"""A charging world with fees and refill plans, for integration and end-to-end tests.

Catalog: SMS at 0.10 and four plans with fees: ``monthly`` (30.00 on the 1st, the first
month prorated by day), ``weekly`` (2.00 a week from the contract's start day),
``daily_pass`` (0.50 a day, charged below the floor when the balance cannot cover)
and ``setup`` (a one-off 5.00). Refill plans: ``topup`` (5 to 100 EUR, 30 bonus
minutes for 10 days), ``short_topup`` (5 bonus minutes for a day), ``fixed20`` (exactly 20 EUR) and ``dollars`` (USD).

The engine's clock stands at 2026-06-01 12:00 UTC (see tests.fakes.FixedClock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kopek import ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document

CATALOG_YAML = """
item_classes:
  - name: sms
    properties:
      - {name: destination, type: string}
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
charge_plans:
  - name: monthly
    currency: EUR
    counters:
      - {name: bonus_minutes, unit: minutes}
    charges:
      - name: sms
        item_class: sms
        price: {type: flat, amount: "0.10"}
      - name: calls
        item_class: call
        price:
          type: allowance
          counter: bonus_minutes
          then: {type: rate, amount: "0.60", unit: minutes, increment: 1}
    fees:
      - name: subscription
        period: monthly
        anchor_day: 1
        amount: "30.00"
        proration: daily
  - name: weekly
    currency: EUR
    fees:
      - {name: pack, period: weekly, amount: "2.00"}
  - name: daily_pass
    currency: EUR
    fees:
      - {name: pass, period: daily, amount: "0.50", on_insufficient_balance: below_floor}
  - name: setup
    currency: EUR
    fees:
      - {name: activation, kind: one_off, amount: "5.00"}
refill_plans:
  - name: topup
    currency: EUR
    min_amount: "5"
    max_amount: "100"
    bonus: {counter: bonus_minutes, units: 30, expires_after_days: 10}
  - name: short_topup
    currency: EUR
    min_amount: "1"
    bonus: {counter: bonus_minutes, units: 5, expires_after_days: 1}
  - name: fixed20
    currency: EUR
    amount: "20.00"
  - name: dollars
    currency: USD
    min_amount: "1"
"""

STARTED = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
"""When the test contracts start: a Thursday, in the middle of January."""


def catalog_document() -> Any:
    return parse_document(CATALOG_YAML, source="fees.yaml")


def subscriber(engine: Engine, holder: str, *, balance: str = "1000.00", kind: str = "prepaid", status: str = "active") -> str:
    """A subscriber account with one EUR account ``<holder>-<kind>``; returns the account id."""
    account: dict[str, Any] = {"id": f"{holder}-{kind}", "kind": kind}
    if kind == "prepaid":
        account["initial_balance"] = balance
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate({"id": holder, "currency": "EUR", "status": status, "accounts": [account]})
    )
    return f"{holder}-{kind}"


def contract(engine: Engine, holder: str, *plans: str, valid_to: datetime | None = None, role_account: str | None = None) -> str:
    """Contract ``<holder>-contract`` from :data:`STARTED`, one item per plan (item id = plan name); returns its id."""
    account_id = role_account or f"{holder}-prepaid"
    record: dict[str, Any] = {
        "id": f"{holder}-contract",
        "subscriber_account_id": holder,
        "valid_from": STARTED.isoformat(),
        "items": [{"id": plan, "charge_plan": plan} for plan in plans],
        "roles": {"prepaid": account_id},
    }
    if valid_to is not None:
        record["valid_to"] = valid_to.isoformat()
    engine.create_contract(ContractInput.model_validate(record))
    return f"{holder}-contract"


def build(engine: Engine, *plans: str, balance: str = "1000.00", valid_to: datetime | None = None) -> str:
    """The catalog and one prepaid subscriber ``ann`` with a contract of ``plans``; returns the contract id."""
    engine.load_catalog(catalog_document())
    subscriber(engine, "ann", balance=balance)
    return contract(engine, "ann", *plans, valid_to=valid_to)


def balance(engine: Engine, account_id: str = "ann-prepaid") -> Decimal:
    return engine.account(account_id).balance


def at(text: str) -> datetime:
    """An instant written as ISO 8601, UTC when no offset is given."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

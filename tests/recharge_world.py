"""A world for recharging tests: a month of calls and texts priced by a tariff that was wrong, and its correction.

Catalog version 1 prices national calls at 0.20 per started minute after 10 free minutes a
month (a contract counter that resets monthly) and texts at 0.10; version 2 is the
corrected tariff: 0.15 per minute, 0.08 a text. ``ann`` is prepaid (50.00 EUR), ``ben``
postpaid; each has one contract with one item of plan ``mobile``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from kopek import AccessInput, ChargeableItem, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document
from kopek.store.schema import account_operations, accounts, charged_items, counters
from kopek.store.uow import UnitOfWork

TARIFF = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
  - name: sms
    properties:
      - {name: destination, type: string, default: national}
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: free_minutes, scope: contract, unit: minutes, initial: 10, reset: monthly, time_zone: UTC}
    charges:
      - name: voice
        item_class: call
        account_role: payer
        output: both
        rounding: {decimals: 2, mode: half_up}
        price:
          type: allowance
          counter: free_minutes
          then: {type: rate, amount: "MINUTE", unit: minutes, increment: 1}
      - name: sms
        item_class: sms
        account_role: payer
        output: both
        price: {type: flat, amount: "TEXT"}
"""

MONTH = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)


def tariff(minute: str = "0.20", text: str = "0.10") -> Any:
    return parse_document(TARIFF.replace("MINUTE", minute).replace("TEXT", text), source="tariff.yaml")


WRONG = ("0.20", "0.10")
CORRECTED = ("0.15", "0.08")


def build(engine: Engine, *, minute: str = WRONG[0], text: str = WRONG[1], ann_balance: str = "50.00") -> None:
    """The catalog and the two subscribers."""
    engine.load_catalog(tariff(minute, text))
    for holder, kind, extra in (("ann", "prepaid", {"initial_balance": ann_balance}), ("ben", "postpaid", {})):
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": holder, "currency": "EUR", "accounts": [{"id": f"{holder}-{kind}", "kind": kind, **extra}]}
            )
        )
        engine.create_contract(
            ContractInput.model_validate(
                {
                    "id": f"{holder}-line",
                    "subscriber_account_id": holder,
                    "valid_from": "2026-01-01T00:00:00Z",
                    "items": [{"id": "plan", "charge_plan": "mobile"}],
                    "roles": {"payer": f"{holder}-{kind}"},
                }
            )
        )
        engine.create_access(
            AccessInput.model_validate(
                {"service_id": "mobile", "user_id": holder, "contract_id": f"{holder}-line", "valid_from": "2026-01-01T00:00:00Z"}
            )
        )


def call(holder: str, day: int, seconds: int, *, hour: int = 10) -> ChargeableItem:
    return ChargeableItem("call", MONTH + timedelta(days=day - 1, hours=hour), "mobile", holder, {"duration": str(seconds)})


def text(holder: str, day: int, *, hour: int = 12) -> ChargeableItem:
    return ChargeableItem("sms", MONTH + timedelta(days=day - 1, hours=hour), "mobile", holder, {})


def month_of_usage(holder: str) -> list[ChargeableItem]:
    """June: calls of 7, 5, 3 and 12 minutes (the first ten free), texts here and there."""
    return [
        call(holder, 3, 420),
        text(holder, 4),
        call(holder, 9, 300),
        text(holder, 15),
        text(holder, 15, hour=18),
        call(holder, 21, 170),
        call(holder, 28, 715),
    ]


def figures(engine: Engine) -> dict[str, Any]:
    """What a recharge must leave as a fresh charge with the right tariff would: balances, counters, standing charged items."""
    with UnitOfWork(engine.database, writes=False) as uow:
        connection = uow.connection
        balances = {account.id: account.balance for holder in ("ann", "ben") for account in uow.master.accounts_of(holder)}
        stored = sorted(
            (row.contract_id, row.item_id, row.name, Fraction(row.value), row.period_start)
            for row in connection.execute(sa.select(counters))
        )
        standing = sorted(
            (row.contract_id, row.consumption_date, row.charge, row.account_id, row.amount, row.quantity)
            for row in connection.execute(
                sa.select(charged_items).where(charged_items.c.superseded_by.is_(None), charged_items.c.reverses_id.is_(None))
            )
        )
    return {"balances": balances, "counters": stored, "charged_items": standing}


def compensations(engine: Engine) -> list[tuple[str, Decimal]]:
    with engine.database.connect() as connection:
        query = sa.select(account_operations.c.account_id, account_operations.c.amount).where(account_operations.c.kind == "recharge")
        return sorted((row[0], row[1]) for row in connection.execute(query))


def build_many(engine: Engine, count: int, *, minute: str = WRONG[0], text: str = WRONG[1]) -> list[str]:
    """The catalog and ``count`` subscribers ``line-000``, ... (prepaid and postpaid in turn), each with a month of usage
    charged; their contract ids."""
    engine.load_catalog(tariff(minute, text))
    contract_ids = []
    for number in range(count):
        holder, kind = f"line-{number:03d}", ("prepaid", "postpaid")[number % 2]
        extra = {"initial_balance": "100.00"} if kind == "prepaid" else {}
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": holder, "currency": "EUR", "accounts": [{"id": f"{holder}-{kind}", "kind": kind, **extra}]}
            )
        )
        contract = {
            "id": f"{holder}-line", "subscriber_account_id": holder, "valid_from": "2026-01-01T00:00:00Z",
            "items": [{"id": "plan", "charge_plan": "mobile"}], "roles": {"payer": f"{holder}-{kind}"},
        }  # fmt: skip
        engine.create_contract(ContractInput.model_validate(contract))
        access = {"service_id": "mobile", "user_id": holder, "contract_id": f"{holder}-line", "valid_from": "2026-01-01T00:00:00Z"}
        engine.create_access(AccessInput.model_validate(access))
        for item in month_of_usage(holder):
            engine.charge(item)
        contract_ids.append(f"{holder}-line")
    return contract_ids


def all_figures(engine: Engine) -> dict[str, Any]:
    """Balances of every account, every stored counter and every standing charged item."""
    with UnitOfWork(engine.database, writes=False) as uow:
        connection = uow.connection
        balances = dict(connection.execute(sa.select(accounts.c.id, accounts.c.balance)).all())
        stored = sorted((row.contract_id, row.name, Fraction(row.value)) for row in connection.execute(sa.select(counters)))
        standing = sorted(
            (row.contract_id, row.consumption_date, row.charge, row.amount)
            for row in connection.execute(
                sa.select(charged_items).where(charged_items.c.superseded_by.is_(None), charged_items.c.reverses_id.is_(None))
            )
        )
    return {"balances": balances, "counters": stored, "charged_items": standing}

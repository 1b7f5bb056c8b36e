"""Helpers shared by the integration tests: exact sums, whole-database snapshots, extra subscribers."""

from __future__ import annotations

import decimal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek import AccessInput, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document
from kopek.store.schema import (
    account_operations,
    accounts,
    cdr_outcomes,
    charged_items,
    charging_operations,
    counters,
    exported_items,
    notifications,
)
from kopek.store.uow import UnitOfWork
from tests.worlds import START

#: Tables that a charge writes to; a refused charge leaves every one of them as it was.
CHARGING_TABLES = (accounts, account_operations, counters, charging_operations, charged_items, notifications, exported_items)


def exact_sum(amounts: Any) -> Decimal:
    """Add amounts without the 28-digit rounding of the default decimal context."""
    with decimal.localcontext() as context:
        context.prec = 200
        context.traps[decimal.Inexact] = True
        return sum(amounts, Decimal(0))


def operations_sum(engine: Engine, account_id: str) -> Decimal:
    """The sum of every account operation of ``account_id`` (the opening included), read page by page."""
    total: list[Decimal] = []
    after = 0
    while page := engine.account_operations(account_id, limit=1000, after_id=after):
        total.extend(operation.amount for operation in page)
        after = page[-1].id
    return exact_sum(total)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that charging writes to, in a stable order."""
    with UnitOfWork(engine.database, writes=False) as uow:
        return {table.name: sorted((tuple(row) for row in uow.connection.execute(sa.select(table))), key=repr) for table in CHARGING_TABLES}


def cdr_charges(engine: Engine) -> int:
    """How many charges rating jobs left: the operations their charged items name, each the operation id of a charged
    CDR's outcome (a CDR's charge has no operation row). A CDR charged twice would leave two."""
    with engine.database.connect() as connection:
        named = set(connection.execute(sa.select(charged_items.c.operation_id).where(charged_items.c.chunk_id.is_not(None))).scalars())
        recorded = set(connection.execute(sa.select(cdr_outcomes.c.operation_id).where(cdr_outcomes.c.operation_id.is_not(None))).scalars())
    assert named <= recorded, "every charged item of a job names a charged CDR's outcome"
    return len(named)


def operation_count(engine: Engine) -> int:
    with UnitOfWork(engine.database, writes=False) as uow:
        return uow.charging.count_operations()


def charged_rows(engine: Engine, contract_id: str) -> list[dict[str, Any]]:
    with UnitOfWork(engine.database, writes=False) as uow:
        return uow.charging.charged_items_of(contract_id, limit=1000)


def add_subscriber(
    engine: Engine,
    holder: str,
    *,
    kind: str = "prepaid",
    currency: str = "EUR",
    contracts: int = 1,
    plan: str = "mobile",
    valid_from: datetime = START,
    **account: Any,
) -> list[str]:
    """A subscriber account with one account paying for ``contracts`` contracts; returns their user ids.

    Contract ``k`` is ``{holder}-contract-{k}``, reached by service ``mobile`` and user ``{holder}-msisdn-{k}``.
    """
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {"id": holder, "currency": currency, "accounts": [{"id": f"{holder}-{kind}", "kind": kind, **account}]}
        )
    )
    users = []
    for index in range(contracts):
        contract_id, user = f"{holder}-contract-{index}", f"{holder}-msisdn-{index}"
        engine.create_contract(
            ContractInput.model_validate(
                {
                    "id": contract_id,
                    "subscriber_account_id": holder,
                    "valid_from": valid_from.isoformat(),
                    "items": [{"id": "main", "charge_plan": plan}],
                    "roles": {"payer": f"{holder}-{kind}"},
                }
            )
        )
        engine.create_access(
            AccessInput.model_validate(
                {"service_id": "mobile", "user_id": user, "contract_id": contract_id, "valid_from": valid_from.isoformat()}
            )
        )
        users.append(user)
    return users


def run_together(tasks: list[Callable[[], Any]], *, timeout_seconds: float = 120) -> list[Any]:
    """Run each task in its own thread, all released at once; return each one's result or raised exception.

    Threads are daemons and the wait is bounded, so a deadlock fails the test instead of hanging it.
    """
    barrier = threading.Barrier(len(tasks))
    outcomes: list[Any] = [None] * len(tasks)

    def run(index: int, task: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout_seconds)
            outcomes[index] = task()
        except BaseException as error:  # handed back to the test, never lost in the thread
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index, task), daemon=True) for index, task in enumerate(tasks)]
    deadline = time.monotonic() + timeout_seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {timeout_seconds} s: {stuck}"
    return outcomes


def prepaid_subscriber(engine: Engine, holder: str, *, balance: str = "100.00") -> str:
    """Subscriber account ``holder`` with one prepaid account ``{holder}-prepaid`` holding ``balance`` EUR; returns its id."""
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {"id": holder, "currency": "EUR", "accounts": [{"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": balance}]}
        )
    )
    return f"{holder}-prepaid"


def voice_contract(
    engine: Engine, contract_id: str, holder: str, plan: str, *, payer: str | None = None, parent: str | None = None
) -> None:
    """Contract ``contract_id`` activating ``plan`` from START, paid by ``payer`` (default the holder's prepaid account)
    through role ``prepaid``, reached by service ``voice`` and user ``contract_id``."""
    record: dict[str, Any] = {
        "id": contract_id,
        "subscriber_account_id": holder,
        "valid_from": START.isoformat(),
        "items": [{"id": "main", "charge_plan": plan}],
        "roles": {"prepaid": payer or f"{holder}-prepaid"},
        "parent_id": parent,
    }
    engine.create_contract(ContractInput.model_validate(record))
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "voice", "user_id": contract_id, "contract_id": contract_id, "valid_from": START.isoformat()}
        )
    )


SHARING_CATALOG = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: integer, unit: seconds}
charge_plans:
  - name: family_pool
    currency: EUR
    counters:
      - {name: pool, scope: shared, namespace: family, unit: seconds, initial: 600}
    charges:
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: pool
          then: {type: rate, amount: "0.01", unit: seconds}
  - name: parent_bundle
    currency: EUR
    counters:
      - {name: bundle, scope: contract, unit: seconds, initial: 300, reset: monthly}
    charges:
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: bundle
          then: {type: rate, amount: "0.02", unit: seconds}
  - name: activation_bundle
    currency: EUR
    counters:
      - {name: included, scope: activation, unit: seconds, initial: 100, reset: daily}
    charges:
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: included
          then: {type: rate, amount: "0.01", unit: seconds}
"""
"""Counters beyond one contract: a shared pool (``family_pool``), a parent's monthly bundle a linked child uses
(``parent_bundle``) and a daily activation allowance (``activation_bundle``); calls of class ``call``."""


@contextmanager
def sharing_engine(url: str) -> Iterator[Engine]:
    """An engine on ``url`` with :data:`SHARING_CATALOG` loaded."""
    with Engine(url) as engine:
        engine.load_catalog(parse_document(SHARING_CATALOG, source="sharing.yaml"))
        yield engine

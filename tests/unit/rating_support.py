"""Tariffs written as YAML text, and rating of one item under them, for the unit tests.

The standard catalog has three item classes (a ``call`` measured in seconds, a
``data`` session measured in bytes, an ``sms`` counted in events) and one charge
plan ``plan`` whose single charge ``main`` prices a class with the node under test.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kopek.documents import parse_document
from kopek.domain.catalog import Catalog
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import AccountId, Contract, ContractId, ContractItem, ContractItemId, SubscriberAccountId
from kopek.money import Exact, ExactInput, parse_exact
from kopek.rating.outcome import CounterKey, RatingOutcome
from kopek.rating.rate import RatingState, rate_item

CONSUMED_AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CONTRACT_ID = ContractId("contract-1")
CONTRACT_ITEM_ID = ContractItemId("contract-item-1")

ITEM_CLASSES_YAML = """\
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: destination, type: string, default: "0"}
      - {name: network, type: string, default: home}
      - {name: hour, type: integer, default: 12}
  - name: data
    quantity: volume
    properties:
      - {name: volume, type: integer, unit: bytes}
      - {name: pack_size, type: integer, default: 1}
  - name: sms
    quantity: count
    properties:
      - {name: count, type: integer, unit: events, default: 1}
"""


def parse_yaml(text: str) -> Any:
    return parse_document(textwrap.dedent(text), source="tariff.yaml")


def load_catalog(text: str) -> Catalog:
    """A whole catalog from YAML text; raises the catalog error as a client would see it."""
    return catalog_from_document(parse_yaml(text), source="tariff.yaml")


def tariff(price: str, *, item_class: str = "call", counters: str = "[]", charge: str = "") -> Catalog:
    """The standard catalog whose one charge prices ``item_class`` with the ``price`` node.

    ``counters`` is the YAML list of the plan's counters; ``charge`` adds keys to the
    charge (``rounding``, ``counter_updates``, ...). Amounts are rounded to 4 decimals
    unless ``charge`` says otherwise, so that the node's own arithmetic shows.
    """
    document = parse_yaml(ITEM_CLASSES_YAML)
    charge_fields = {"rounding": {"decimals": 4, "mode": "half_up"}, **(parse_yaml(charge) or {})}
    document["charge_plans"] = [
        {
            "name": "plan",
            "currency": "EUR",
            "counters": parse_yaml(counters),
            "charges": [{"name": "main", "item_class": item_class, "price": parse_yaml(price), **charge_fields}],
        }
    ]
    return catalog_from_document(document, source="tariff.yaml")


def contract(*plans: str) -> Contract:
    """A contract with one contract item per plan (ids ``contract-item-1``, ``-2``, ...)."""
    items = tuple(ContractItem(ContractItemId(f"contract-item-{index}"), plan) for index, plan in enumerate(plans, start=1))
    return Contract(
        id=CONTRACT_ID,
        subscriber_account_id=SubscriberAccountId("subscriber-1"),
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
        items=items,
        roles={"prepaid": AccountId("prepaid-1"), "postpaid": AccountId("postpaid-1")},
    )


def counter_key(name: str, *, contract_item_id: str = CONTRACT_ITEM_ID) -> CounterKey:
    return CounterKey(CONTRACT_ID, contract_item_id, name)


def typed(catalog: Catalog, item_class: str, properties: Mapping[str, object], *, consumed_at: datetime = CONSUMED_AT) -> TypedItem:
    spec = catalog.item_class(item_class)
    assert spec is not None
    return type_item(spec, ChargeableItem(item_class, consumed_at, "voice", "user-1", dict(properties)))


def rate(
    catalog: Catalog,
    properties: Mapping[str, object],
    *,
    item_class: str = "call",
    counters: Mapping[str, ExactInput | str] | None = None,
    plans: tuple[str, ...] = ("plan",),
    consumed_at: datetime = CONSUMED_AT,
) -> RatingOutcome:
    """Rate one item, started at ``consumed_at``, under ``plans``; ``counters`` gives stored
    values by name (contract item 1), each exact (a decimal, an int, a Fraction or the text ``n/d``)."""
    stored = {counter_key(name): parse_exact(value) for name, value in (counters or {}).items()}
    item = typed(catalog, item_class, properties, consumed_at=consumed_at)
    return rate_item(catalog, RatingState(contract(*plans), stored), item)


def amount(outcome: RatingOutcome) -> Decimal:
    """The amount of the one charged item of ``outcome``."""
    (charged,) = outcome.charged_items
    return charged.amount


def counters_after(outcome: RatingOutcome) -> dict[str, Exact]:
    """The counters this rating changed, by name, with their value after it (exact, in the counter's unit)."""
    return {change.key.name: change.after for change in outcome.counter_changes}

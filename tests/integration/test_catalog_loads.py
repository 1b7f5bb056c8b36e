"""A catalog load never breaks the contracts that use it, and loading the same catalog again stores nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kopek import Engine
from kopek.charging.session_views import StartSession
from kopek.errors import Category, Code, IncompatibleConfigurationError
from tests.worlds import AT, build_world, call, catalog_document

SPARE_PLAN = {
    "name": "spare",
    "currency": "EUR",
    "charges": [{"name": "sms", "item_class": "sms", "account_role": "payer", "price": {"type": "flat", "amount": "0.05"}}],
}


def _without_plan(document: Any, name: str) -> Any:
    changed = copy.deepcopy(document)
    changed["charge_plans"] = [plan for plan in changed["charge_plans"] if plan["name"] != name]
    return changed


def _renamed_plan(document: Any, old: str, new: str) -> Any:
    changed = copy.deepcopy(document)
    for plan in changed["charge_plans"]:
        if plan["name"] == old:
            plan["name"] = new
    return changed


def test_a_catalog_dropping_a_plan_contracts_use_is_refused_naming_them(engine: Engine) -> None:
    build_world(engine)

    with pytest.raises(IncompatibleConfigurationError) as refused:
        engine.load_catalog(_renamed_plan(catalog_document(), "mobile", "mobile-2027"))

    error = refused.value
    assert (error.category, error.code) == (Category.INCOMPATIBLE_CONFIGURATION, Code.CATALOG_DROPS_WHAT_CONTRACTS_USE)
    assert "alice-contract" in error.message and "bob-contract" in error.message
    assert {detail.location for detail in error.details} == {("charge_plans", "mobile")}
    assert engine.catalog().version == 1
    assert engine.charge(call()).charged_items  # contracts still charge with the catalog in use


def test_a_catalog_dropping_a_counter_that_contracts_hold_is_refused(engine: Engine) -> None:
    build_world(engine)
    engine.charge(call(seconds="30"))  # uses the free_seconds allowance: a stored counter value
    document = catalog_document()
    plan = document["charge_plans"][0]
    plan["counters"] = []
    plan["charges"][0]["price"] = plan["charges"][0]["price"]["then"]

    with pytest.raises(IncompatibleConfigurationError) as refused:
        engine.load_catalog(document)

    assert {detail.location for detail in refused.value.details} == {("counters", "free_seconds")}
    assert "alice-contract" in refused.value.message


def test_a_catalog_dropping_the_item_class_of_a_live_session_is_refused(engine: Engine) -> None:
    build_world(engine)
    engine.start_session(
        StartSession(
            session_id="s-1",
            item_class="content",
            service_id="mobile",
            user_id="alice-msisdn",
            consumption_date=AT,
            ttl_ms=60_000,
            quantity_property="units",
            properties={"pack_size": 1},
            requested_quantity="1",
        )
    )
    document = catalog_document()
    document["item_classes"] = [item_class for item_class in document["item_classes"] if item_class["name"] != "content"]
    document["charge_plans"][0]["charges"] = [charge for charge in document["charge_plans"][0]["charges"] if charge["name"] != "content"]

    with pytest.raises(IncompatibleConfigurationError) as refused:
        engine.load_catalog(document)

    assert {detail.location for detail in refused.value.details} == {("item_classes", "content")}


def test_a_catalog_dropping_what_no_contract_uses_is_loaded(engine: Engine) -> None:
    build_world(engine)
    document = catalog_document()
    document["charge_plans"].append(SPARE_PLAN)
    assert engine.load_catalog(document) == 2

    assert engine.load_catalog(_without_plan(document, "spare")) == 3


def test_loading_the_same_catalog_again_stores_no_new_version(engine: Engine) -> None:
    first = engine.load_catalog(catalog_document())

    again = engine.load_catalog_version(catalog_document())

    assert (first, again.version, again.created) == (1, 1, False)
    assert engine.catalog().version == 1
    assert [entry["details"].get("unchanged") for entry in engine.audit_log(limit=2)] == [True, None]


def test_loading_an_older_catalog_again_stores_a_new_version(engine: Engine) -> None:
    document = catalog_document()
    engine.load_catalog(document)
    changed = copy.deepcopy(document)
    changed["charge_plans"].append(SPARE_PLAN)
    engine.load_catalog(changed)

    assert engine.load_catalog(document) == 3

"""Checking a contract state against the catalog and the contract's master data: each rule, then the precedence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.contract_state_world import family_catalog, state_document

from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.master import ContractStatus
from kopek.errors import Category, Code
from kopek.migration.state import ContractState
from kopek.migration.validation import ContractFacts, check_contract_state

CATALOG = catalog_from_document(family_catalog(), source="family.yaml")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIGRATING = ContractFacts(ContractStatus.MIGRATING, {"main": "family"})


def _check(facts: ContractFacts | None = MIGRATING, **fields: Any) -> tuple[Category, Code] | None:
    error = check_contract_state(ContractState.model_validate(state_document("c-1", **fields)), facts, CATALOG, now=NOW)
    return None if error is None else (error.category, error.code)


def _activation(**fields: Any) -> dict[str, Any]:
    return {"id": "act-1", "item_id": "main", "kind": "charge", "status": "active", "last_activation_date": "2026-05-01T00:00:00Z"} | fields


def _item_counter(name: str, unit: str, **fields: Any) -> dict[str, Any]:
    return {"items": [{"item_id": "main", "counters": [{"name": name, "unit": unit, "value": "1"} | fields]}]}


def _bonus(**fields: Any) -> dict[str, Any]:
    return {"name": "bonus_sms", "unit": "events", "value": "2"} | fields


def test_a_state_that_fits_catalog_and_master_data_passes() -> None:
    assert _check(activations=[_activation()]) is None


def test_an_activation_holds_the_activation_counters_of_its_items_plan_with_their_period_and_expiry() -> None:
    bonus = _bonus(period_start="2026-05-01T00:00:00Z", expires_at="2027-01-01T00:00:00Z")
    assert _check(activations=[_activation(counters=[bonus])]) is None


def _versioned_catalog() -> Any:
    """Plan ``family`` in two versions: version 2 (from 2026-07-01) counts SMS in ``sms_used`` instead
    of ``sms_sent``, and keeps ``data_used`` in kilobytes where version 1 kept it in bytes."""
    document = family_catalog()
    first = document["charge_plans"][0]
    first = first | {"counters": [*first["counters"], {"name": "data_used", "scope": "contract_item", "unit": "bytes"}]}
    counters = [
        {"name": "shared_seconds", "scope": "contract", "unit": "seconds", "initial": 300},
        {"name": "sms_used", "scope": "contract_item", "unit": "events"},
        {"name": "data_used", "scope": "contract_item", "unit": "kilobytes"},
    ]
    second = first | {"version": 2, "effective_from": "2026-07-01", "counters": counters, "charges": first["charges"][:1]}
    document["charge_plans"] = [first | {"version": 1}, second]
    return catalog_from_document(document, source="versioned.yaml")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(_item_counter("sms_sent", "events"), id="only-in-v1"),
        pytest.param(_item_counter("sms_used", "events"), id="only-in-v2"),
        pytest.param(_item_counter("data_used", "bytes"), id="v1-unit"),
        pytest.param(_item_counter("data_used", "kilobytes"), id="v2-unit"),
    ],
)
def test_a_counter_declared_by_any_version_of_the_items_plan_is_accepted(fields: dict[str, Any]) -> None:
    state = ContractState.model_validate(state_document("c-1", **fields))
    assert check_contract_state(state, MIGRATING, _versioned_catalog(), now=NOW) is None


def test_a_unit_no_version_declares_is_refused_naming_the_declared_units() -> None:
    items = [{"item_id": "main", "counters": [{"name": "data_used", "unit": "megabytes", "value": "1"}]}]
    error = check_contract_state(ContractState.model_validate(state_document("c-1", items=items)), MIGRATING, _versioned_catalog(), now=NOW)
    assert error is not None and error.code is Code.COUNTER_UNIT_MISMATCH
    assert "bytes or kilobytes, not megabytes" in error.message


def test_an_unknown_contract_does_not_exist() -> None:
    assert _check(None) == (Category.DOES_NOT_EXIST, Code.NOT_FOUND)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"items": [{"item_id": "extra", "counters": []}]}, Code.CONTRACT_ITEM_UNKNOWN, id="unknown-contract-item"),
        pytest.param({"activations": [_activation(item_id="extra")]}, Code.CONTRACT_ITEM_UNKNOWN, id="activation-of-unknown-item"),
        pytest.param(
            {"shared_counters": [{"name": "free_sms", "unit": "events", "value": "1"}]}, Code.COUNTER_UNKNOWN, id="unknown-shared-counter"
        ),
        pytest.param(
            {"shared_counters": [{"namespace": "family", "name": "shared_seconds", "unit": "seconds", "value": "1"}]},
            Code.COUNTER_UNKNOWN,
            id="unknown-namespace",
        ),
        pytest.param(
            {"shared_counters": [{"name": "sms_sent", "unit": "events", "value": "1"}]},
            Code.COUNTER_UNKNOWN,
            id="item-counter-given-as-shared",
        ),
        pytest.param(
            {"items": [{"item_id": "main", "counters": [{"name": "shared_seconds", "unit": "seconds", "value": "1"}]}]},
            Code.COUNTER_UNKNOWN,
            id="shared-counter-given-in-an-item",
        ),
        pytest.param(
            {"activations": [_activation(counters=[{"name": "sms_sent", "unit": "events", "value": "1"}])]},
            Code.COUNTER_UNKNOWN,
            id="activation-counter-not-declared",
        ),
        pytest.param(
            {"items": [{"item_id": "main", "counters": [{"name": "bonus_sms", "unit": "events", "value": "1"}]}]},
            Code.COUNTER_UNKNOWN,
            id="activation-counter-given-in-an-item",
        ),
        pytest.param(
            {"activations": [_activation(counters=[{"name": "bonus_sms", "unit": "seconds", "value": "1"}])]},
            Code.COUNTER_UNIT_MISMATCH,
            id="activation-counter-in-the-wrong-unit",
        ),
        pytest.param(
            {"activations": [_activation(counters=[{"name": "bonus_sms", "unit": "events", "value": "-1"}])]},
            Code.COUNTER_VALUE_NEGATIVE,
            id="negative-activation-counter",
        ),
        pytest.param(
            {"activations": [_activation(counters=[_bonus(), _bonus()])]},
            Code.CONTRACT_STATE_INVALID,
            id="repeated-activation-counter",
        ),
        pytest.param(
            _item_counter("sms_sent", "events", period_start="2026-06-02T00:00:00Z"),
            Code.DATE_IN_THE_FUTURE,
            id="counter-period-starting-in-the-future",
        ),
        pytest.param(
            {"shared_counters": [{"name": "shared_seconds", "unit": "minutes", "value": "2"}]}, Code.COUNTER_UNIT_MISMATCH, id="wrong-unit"
        ),
        pytest.param(
            {"items": [{"item_id": "main", "counters": [{"name": "sms_sent", "unit": "events", "value": "-1"}]}]},
            Code.COUNTER_VALUE_NEGATIVE,
            id="negative-item-counter",
        ),
        pytest.param(
            {"shared_counters": [{"name": "shared_seconds", "unit": "seconds", "value": "-0.5"}]},
            Code.COUNTER_VALUE_NEGATIVE,
            id="negative-shared-counter",
        ),
        pytest.param({"last_snapshot_date": "2026-06-01T12:00:01Z"}, Code.DATE_IN_THE_FUTURE, id="snapshot-in-the-future"),
        pytest.param(
            {"activations": [_activation(last_activation_date="2026-07-01T00:00:00+02:00")]},
            Code.DATE_IN_THE_FUTURE,
            id="activation-in-the-future",
        ),
        pytest.param(
            {"items": [{"item_id": "main", "counters": []}, {"item_id": "main", "counters": []}]},
            Code.CONTRACT_STATE_INVALID,
            id="repeated-item",
        ),
        pytest.param({"activations": [_activation(), _activation()]}, Code.CONTRACT_STATE_INVALID, id="repeated-activation"),
    ],
)
def test_faults_of_the_data_are_invalid(fields: dict[str, Any], code: Code) -> None:
    assert _check(**fields) == (Category.INVALID, code)


def test_a_snapshot_at_the_current_instant_is_not_in_the_future() -> None:
    assert _check(last_snapshot_date=NOW.isoformat()) is None


@pytest.mark.parametrize("status", [ContractStatus.ACTIVE, ContractStatus.LOCKED])
def test_a_contract_that_is_not_migrating_refuses_its_state(status: ContractStatus) -> None:
    assert _check(ContractFacts(status, {"main": "family"})) == (Category.ILLEGAL_STATE, Code.CONTRACT_NOT_MIGRATING)


def test_faults_of_the_data_come_before_the_migration_lock() -> None:
    active = ContractFacts(ContractStatus.ACTIVE, {"main": "family"})
    assert _check(active, snapshot_days=3, last_snapshot_date="2030-01-01T00:00:00Z") == (Category.INVALID, Code.DATE_IN_THE_FUTURE)


def test_the_first_failing_check_decides() -> None:
    # Unknown item and wrong unit together: the contract item check runs first.
    fields = {
        "items": [{"item_id": "extra", "counters": []}],
        "shared_counters": [{"name": "shared_seconds", "unit": "minutes", "value": "2"}],
    }
    assert _check(**fields) == (Category.INVALID, Code.CONTRACT_ITEM_UNKNOWN)

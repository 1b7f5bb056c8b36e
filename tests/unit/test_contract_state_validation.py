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


def test_a_state_that_fits_catalog_and_master_data_passes() -> None:
    assert _check(activations=[_activation()]) is None


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

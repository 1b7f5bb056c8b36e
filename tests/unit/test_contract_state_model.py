"""The contract state records: their JSON lines form, their bounds and the published JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.contract_state_world import state_document

from kopek.migration.state import ContractState, contract_state_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "contract-state.schema.json"


def test_published_contract_state_schema_matches_the_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(contract_state_json_schema())), (
        "regenerate docs/contract-state.schema.json with: kopek contract-states schema > docs/contract-state.schema.json"
    )


def test_schema_names_the_format_version_as_a_required_constant() -> None:
    schema = contract_state_json_schema()
    assert schema["properties"]["format_version"]["const"] == 1
    assert "format_version" in schema["required"]


def test_a_state_reads_back_from_its_json_line() -> None:
    state = ContractState.model_validate(state_document("c-1"))
    line = state.line()
    assert "\n" not in line
    assert ContractState.model_validate_json(line) == state
    assert json.loads(line)["shared_counters"][0]["value"] == "120"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"format_version": 2}, id="unknown-format-version"),
        pytest.param({"format_version": None}, id="missing-format-version"),
        pytest.param({"contract_id": ""}, id="empty-contract-id"),
        pytest.param({"snapshot_days": -1}, id="negative-snapshot-days"),
        pytest.param({"last_snapshot_date": "2026-05-31T00:00:00"}, id="naive-snapshot-date"),
        pytest.param({"shared_counters": [{"name": "x", "unit": "parsecs", "value": "1"}]}, id="unknown-unit"),
        pytest.param({"shared_counters": [{"name": "x", "unit": "seconds", "value": 1.5}]}, id="binary-float-value"),
        pytest.param({"shared_counters": [{"name": "x", "unit": "seconds", "value": "1" * 39}]}, id="too-many-digits"),
        pytest.param({"items": [{"item_id": "main", "counters": [], "extra": 1}]}, id="unknown-field"),
        pytest.param({"activations": [{"id": "a", "item_id": "main", "kind": "topup", "status": "active"}]}, id="unknown-kind"),
    ],
)
def test_malformed_states_are_refused(change: dict[str, Any]) -> None:
    document = state_document("c-1") | change
    if change.get("format_version", 1) is None:
        del document["format_version"]
    with pytest.raises(pydantic.ValidationError):
        ContractState.model_validate_json(json.dumps(document))


def test_values_are_exact_from_strings_and_integers() -> None:
    document = state_document("c-1", shared_counters=[{"name": "x", "unit": "seconds", "value": "0.1000000000000000000000000000001"}])
    document["items"] = [{"item_id": "main", "counters": [{"name": "y", "unit": "events", "value": 12345678901234567890}]}]
    state = ContractState.model_validate_json(json.dumps(document))
    assert state.shared_counters[0].value == Decimal("0.1000000000000000000000000000001")
    assert state.items[0].counters[0].value == Decimal("12345678901234567890")


values = st.builds(lambda digits, scale: Decimal(f"{digits}E-{scale}"), st.integers(0, 10**38 - 1), st.integers(0, 30))
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 6, 1), timezones=st.just(UTC))


@given(shared=st.lists(values, max_size=4), item=st.lists(values, max_size=4), snapshot=st.none() | moments)
def test_any_state_survives_its_json_line(shared: list[Decimal], item: list[Decimal], snapshot: datetime | None) -> None:
    state = ContractState.model_validate(
        {
            "format_version": 1,
            "contract_id": "c-1",
            "last_snapshot_date": snapshot,
            "shared_counters": [{"name": f"s{index}", "unit": "seconds", "value": value} for index, value in enumerate(shared)],
            "items": [
                {
                    "item_id": "main",
                    "counters": [{"name": f"i{index}", "unit": "bytes", "value": value} for index, value in enumerate(item)],
                }
            ],
        }
    )
    again = ContractState.model_validate_json(state.line())
    assert again == state
    assert [counter.value.as_tuple() for counter in again.shared_counters] == [value.as_tuple() for value in shared]


def test_a_line_past_the_length_bound_is_refused_without_being_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from kopek.errors import Code
    from kopek.migration.restore import parse_line

    line = json.dumps(state_document("c-1"))
    monkeypatch.setattr("kopek.limits.CONTRACT_STATE_LINE_CHARS_MAX", len(line) - 1)
    number, state, contract_id, fault = parse_line(7, line)
    assert (number, state, contract_id) == (7, None, None)
    assert fault is not None and fault.code is Code.CONTRACT_STATE_INVALID
    monkeypatch.setattr("kopek.limits.CONTRACT_STATE_LINE_CHARS_MAX", len(line))
    assert parse_line(7, line)[1] == ContractState.model_validate(state_document("c-1"))

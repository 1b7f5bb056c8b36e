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

from kopek.migration.state import CONTRACT_STATE_FORMAT_VERSION, ContractState, contract_state_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "contract-state.schema.json"


def test_published_contract_state_schema_matches_the_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(contract_state_json_schema())), (
        "regenerate docs/contract-state.schema.json with: kopek contract-states schema > docs/contract-state.schema.json"
    )


def test_schema_names_the_format_versions_read_and_requires_one() -> None:
    schema = contract_state_json_schema()
    assert schema["properties"]["format_version"]["enum"] == [1, 2, 3]
    assert schema["$id"].endswith(f"contract-state-v{CONTRACT_STATE_FORMAT_VERSION}.json")
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
        pytest.param({"format_version": 4}, id="unknown-format-version"),
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
    assert [counter.value for counter in again.shared_counters] == shared


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


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        pytest.param("9" * 38, True, id="38-integer-digits"),
        pytest.param("9" * 39, False, id="39-integer-digits"),
        pytest.param("0." + "1" * 38, True, id="38-decimals"),
        pytest.param("0." + "1" * 39, False, id="39-decimals"),
        pytest.param("1" * 20 + "." + "1" * 18, True, id="38-digits-across-the-point"),
        pytest.param("1E37", True, id="exponent-up-to-38-digits"),
        pytest.param("1E38", False, id="exponent-past-38-digits"),
        pytest.param(10**38 - 1, True, id="integer-of-38-digits"),
        pytest.param(10**38, False, id="integer-of-39-digits"),
    ],
)
def test_a_counter_value_holds_at_most_38_digits(value: object, accepted: bool) -> None:
    document = state_document("c-1", shared_counters=[{"name": "x", "unit": "seconds", "value": value}])
    if accepted:
        assert ContractState.model_validate_json(json.dumps(document)).shared_counters[0].value == Decimal(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(pydantic.ValidationError, match="at most 38 digits"):
            ContractState.model_validate_json(json.dumps(document))


def test_a_version_1_line_still_reads_with_no_period_and_no_expiry() -> None:
    state = ContractState.model_validate_json(json.dumps(state_document("c-1", format_version=1)))
    assert state.format_version == 1
    assert (state.shared_counters[0].period_start, state.shared_counters[0].expires_at) == (None, None)


def test_counter_periods_expiries_and_activation_counters_survive_the_json_line() -> None:
    life = {"period_start": "2026-05-01T00:00:00Z", "expires_at": "2026-07-01T00:00:00Z"}
    counter = {"name": "bonus", "unit": "events", "value": "3"} | life
    activation = {"id": "main", "item_id": "main", "kind": "charge", "status": "active", "counters": [counter]}
    state = ContractState.model_validate(state_document("c-1", activations=[activation]))
    again = ContractState.model_validate_json(state.line())
    assert again == state
    assert again.activations[0].counters[0].expires_at == datetime(2026, 7, 1, tzinfo=UTC)

"""``kopek catalog``: validate prints every fault as FILE: path: message, load, show, schema."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.e2e.cli_support import EXAMPLE_CATALOG, Kopek, write

STRUCTURAL_FAULTS = """
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: parsecs}
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: voice
        item_class: voice_call
        price: {type: flat, amount: "abc"}
"""

CROSS_REFERENCE_FAULTS = """
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: voice
        item_class: voice_call
        price: {type: allowance, counter: free_minutes, then: {type: rate, amount: "0.10", unit: bytes}}
      - name: sms
        item_class: sms
        price: {type: flat, amount: "0.10"}
"""


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    return Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}")


def test_validate_accepts_the_example_catalog_without_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checked = json.loads(Kopek(url=None).run("catalog", "validate", str(EXAMPLE_CATALOG), "--json").stdout)
    assert checked == {
        "valid": True,
        "source": str(EXAMPLE_CATALOG),
        "item_classes": ["voice_call", "sms", "data_session"],
        "charge_plans": ["prepaid_classic", "postpaid_smart", "family_share"],
    }
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "expected_lines"),
    [
        pytest.param(
            STRUCTURAL_FAULTS,
            [
                "item_classes[0].properties[0].unit: Input should be 'seconds'",
                "charge_plans[0].charges[0].price.amount: Value error, 'abc' is not a decimal number",
            ],
            id="structural",
        ),
        pytest.param(
            CROSS_REFERENCE_FAULTS,
            [
                "charge_plans[0].charges[0].price.counter: unknown counter 'free_minutes'",
                "charge_plans[0].charges[0].price.then.unit: rate in bytes but item class 'voice_call' measures seconds",
                "charge_plans[0].charges[1].item_class: unknown item class 'sms'",
            ],
            id="cross-reference",
        ),
    ],
)
def test_validate_prints_every_fault_as_file_path_message_and_exits_1(tmp_path: Path, text: str, expected_lines: list[str]) -> None:
    broken = write(tmp_path / "broken.yaml", textwrap.dedent(text))
    result = Kopek(url=None).run("catalog", "validate", str(broken))
    assert result.exit_code == 1
    assert result.stdout == ""
    headline, *faults = result.stderr.splitlines()
    assert headline.startswith("error [INVALID/catalog_invalid]:")
    assert len(faults) == len(expected_lines)
    for fault, expected in zip(faults, expected_lines, strict=True):
        assert fault.startswith(f"{broken}: {expected}")


def test_validate_with_json_puts_the_structured_error_on_stderr(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", textwrap.dedent(CROSS_REFERENCE_FAULTS))
    error = Kopek(url=None).refused("catalog", "validate", str(broken))
    assert (error["category"], error["reason"], error["code"]) == ("INVALID", None, "catalog_invalid")
    assert [detail["location"] for detail in error["details"]][-1] == [str(broken), "charge_plans", 0, "charges", 1, "item_class"]


@pytest.mark.parametrize(
    ("name", "text", "code"),
    [
        pytest.param("missing.yaml", None, "request_invalid", id="missing-file"),
        pytest.param("broken.yaml", "item_classes: [\n", "request_malformed", id="not-yaml"),
    ],
)
def test_validate_refuses_an_unreadable_file(tmp_path: Path, name: str, text: str | None, code: str) -> None:
    path = tmp_path / name
    if text is not None:
        write(path, text)
    result = Kopek(url=None).run("catalog", "validate", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error [INVALID/{code}]: {path}")


def test_load_then_show_gives_the_newest_version(kopek: Kopek) -> None:
    assert kopek.json("catalog", "load", str(EXAMPLE_CATALOG))["version"] == 1
    again = kopek.json("catalog", "load", str(EXAMPLE_CATALOG))
    assert (again["version"], again["created"]) == (1, False)  # the same catalog: no new version
    assert "Unchanged: version 1" in kopek.ok("catalog", "load", str(EXAMPLE_CATALOG)).stdout
    shown = kopek.json("catalog", "show")
    assert shown["version"] == 1
    assert [plan["name"] for plan in shown["catalog"]["charge_plans"]] == ["prepaid_classic", "postpaid_smart", "family_share"]
    text = kopek.ok("catalog", "show").stdout
    assert "Catalog version 1" in text
    assert "voice: voice_call -> prepaid" in text


def test_load_refuses_a_broken_catalog_and_stores_nothing(kopek: Kopek, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", textwrap.dedent(STRUCTURAL_FAULTS))
    result = kopek.db("catalog", "load", str(broken))
    assert result.exit_code == 1
    assert f"{broken}: charge_plans[0].charges[0].price.amount:" in result.stderr
    error = kopek.refused("catalog", "show")
    assert (error["category"], error["code"]) == ("PREREQUISITE_MISSING", "catalog_not_loaded")


def test_schema_prints_the_catalog_json_schema() -> None:
    result = Kopek(url=None).run("catalog", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "kopek catalog"
    assert {"item_classes", "charge_plans"} <= set(schema["properties"])

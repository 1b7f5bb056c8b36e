"""``kopek migration`` and ``kopek contract-states`` on the example files: the runbook, both modes, refusals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli_support import ALICE, Kopek, call


def test_migration_runbook_with_the_cli(any_url: str, tmp_path: Path) -> None:
    kopek = Kopek(url=any_url).loaded()
    kopek.ok(*call(ALICE, seconds=1900, destination="33611112222"))

    assert kopek.json("migration", "begin", "--all")["contracts_changed"] == 5
    refused = kopek.refused(*call(ALICE, seconds=10, destination="33611112222"), exit_code=75)
    assert (refused["category"], refused["code"]) == ("TEMPORARY_ILLEGAL_STATE", "contract_migrating")

    exported = tmp_path / "states.jsonl"
    result = kopek.ok("contract-states", "export", "--output", str(exported))
    assert "Exported 5 contract state(s)" in result.stderr
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["contract_id"] for line in lines] == ["alice-mobile", "bob-mobile", "carol-mobile", "dan-family", "eve-family"]
    assert json.loads(lines[0])["items"][0]["counters"], "alice's call used her allowance"
    assert kopek.ok("contract-states", "export", "--contract", "alice-mobile").stdout.splitlines() == lines[:1]

    report = kopek.json("contract-states", "restore", str(exported), "--mode", "ALL_OR_NOTHING")
    assert (report["committed"], report["states_restored"], report["failures"]) == (True, 5, [])
    assert kopek.ok("contract-states", "export").stdout.splitlines() == lines

    assert kopek.json("migration", "end", "--all")["contracts_changed"] == 5
    kopek.ok(*call(ALICE, seconds=10, destination="33611112222"))


def test_best_effort_restore_prints_the_failures_and_exits_1(any_url: str, tmp_path: Path) -> None:
    kopek = Kopek(url=any_url).loaded()
    kopek.ok("migration", "begin", "--contract", "alice-mobile", "--contract", "bob-mobile")
    states = tmp_path / "states.jsonl"
    kopek.ok("contract-states", "export", "--output", str(states))
    with states.open("a", encoding="utf-8") as file:
        file.write('{"format_version": 1, "contract_id": "dave-mobile"}\n')

    result = kopek.db("contract-states", "restore", str(states), "--mode", "BEST_EFFORT", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["states_read"], report["states_restored"], report["states_failed"]) == (6, 2, 4)
    assert [(failure["line"], failure["contract_id"], failure["code"]) for failure in report["failures"]] == [
        (3, "carol-mobile", "contract_not_migrating"),
        (4, "dan-family", "contract_not_migrating"),
        (5, "eve-family", "contract_not_migrating"),
        (6, "dave-mobile", "not_found"),
    ]

    shown = kopek.db("contract-states", "restore", str(states), "--mode", "BEST_EFFORT")
    assert shown.exit_code == 1
    assert "BEST_EFFORT: 6 read, 2 restored, 4 failed" in shown.stdout
    assert "contract_not_migrating" in shown.stdout and "dave-mobile" in shown.stdout


def test_refusals_exit_1_with_the_error_on_stderr(any_url: str, tmp_path: Path) -> None:
    kopek = Kopek(url=any_url).loaded()
    assert kopek.refused("migration", "begin", exit_code=2)["code"] == "request_invalid"
    assert kopek.refused("migration", "begin", "--all", "--contract", "alice-mobile", exit_code=2)["code"] == "request_invalid"
    assert kopek.refused("migration", "end", "--contract", "nobody")["category"] == "DOES_NOT_EXIST"
    assert kopek.refused("contract-states", "export", "--contract", "nobody")["code"] == "not_found"
    assert kopek.refused("contract-states", "restore", str(tmp_path / "missing.jsonl"))["category"] == "INVALID"
    mode = kopek.db("contract-states", "restore", str(tmp_path / "missing.jsonl"), "--mode", "SOMETIMES")
    assert mode.exit_code != 0


def test_schema_command_prints_the_published_schema() -> None:
    published = Path(__file__).resolve().parents[2] / "docs" / "contract-state.schema.json"
    assert json.loads(Kopek(url=None).run("contract-states", "schema").stdout) == json.loads(published.read_text(encoding="utf-8"))

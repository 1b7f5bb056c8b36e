"""How ``kopek`` behaves in scripts: exit codes that tell retry-later from refused from misused, repeated options refused,
help that is whole when piped, a root help that names every group and loads nothing heavy, clear database URL errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kopek.cli.app import COMMANDS
from tests.e2e.cli_support import ALICE, Kopek, call

HEAVY_MODULES = ("sqlalchemy", "fastapi", "pydantic", "polars", "pyarrow", "rich", "kopek.engine", "kopek.store")
"""What ``kopek --help`` must not import: the stacks behind the commands (see kopek.cli.lazy)."""


def _kopek(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``kopek ARGS`` in a process of its own, its output piped (not a terminal)."""
    environment = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "KOPEK_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "kopek.cli", *args], capture_output=True, text=True, env=environment | (env or {}), check=False
    )


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    return Kopek(url=any_url).loaded()


def test_a_refusal_of_the_input_or_the_state_exits_1(kopek: Kopek) -> None:
    result = kopek.db(*call(ALICE, seconds=60, destination="33891234567"), "--json")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "service_not_accessible"


def test_a_refusal_to_retry_later_exits_75(kopek: Kopek) -> None:
    kopek.ok("migration", "begin", "--contract", "alice-mobile")

    result = kopek.db(*call(ALICE, seconds=60, destination="33123456789"), "--json")

    assert result.exit_code == 75
    assert (json.loads(result.stderr)["category"], json.loads(result.stderr)["code"]) == ("TEMPORARY_ILLEGAL_STATE", "contract_migrating")


def test_a_usage_error_exits_2(kopek: Kopek) -> None:
    missing_option = kopek.db("charge", "--class", "sms", "--service-id", "mobile")
    unknown_option = kopek.db("accounts", "show", "alice", "--colour", "blue")

    assert (missing_option.exit_code, unknown_option.exit_code) == (2, 2)


def test_a_property_given_twice_is_a_usage_error_and_charges_nothing(kopek: Kopek) -> None:
    twice = [*call(ALICE, seconds=60, destination="33123456789"), "-p", "duration=6000"]

    result = kopek.db(*twice, "--json")

    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert (error["code"], error["details"][0]["location"]) == ("request_invalid", ["--property", "duration"])
    assert "twice" in error["message"]
    assert [operation["kind"] for operation in kopek.json("accounts", "operations", "alice-prepaid")] == ["opening"]


def test_a_property_without_a_value_is_a_usage_error(kopek: Kopek) -> None:
    assert kopek.db("charge", "--class", "sms", "--service-id", "mobile", "--user-id", ALICE, "-p", "zone").exit_code == 2


def test_help_piped_to_another_program_is_whole() -> None:
    result = _kopek("serve", "--help")

    assert result.returncode == 0
    assert "…" not in result.stdout
    for option in ("--nchf-notify-interval-seconds", "--cleanup-interval-seconds", "--session-retention-seconds", "--log-format"):
        assert option in result.stdout, option


def test_the_root_help_names_every_command_group_in_its_summary_and_lists_each() -> None:
    result = _kopek("--help")
    summary, _, listing = result.stdout.partition("Commands:")

    assert result.returncode == 0
    assert [name for name in COMMANDS if name not in summary] == []
    assert [name for name in COMMANDS if f"\n  {name} " not in listing] == []


def test_the_root_help_loads_none_of_the_stacks_behind_the_commands() -> None:
    """The 0.3 s start-up of ``kopek --help`` is measured in bench (``python -m bench --only cli``); here, what makes it."""
    probe = (
        "import sys; from kopek.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(name for name in sys.modules if name.split('.')[0] in {HEAVY_MODULES!r} or name in {HEAVY_MODULES!r}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.splitlines()[-1] == "LOADED []"


def test_the_serve_help_names_the_path_of_the_api_pages() -> None:
    help_text = " ".join(_kopek("serve", "--help").stdout.split())

    assert "Swagger UI at /v1/docs" in help_text and "ReDoc at /v1/redoc" in help_text


@pytest.mark.parametrize(
    ("url", "said"),
    [
        pytest.param("postgresq://kopek@127.0.0.1/kopek", "names 'postgresq'", id="unknown-driver"),
        pytest.param("mysql://kopek@127.0.0.1/kopek", "kopek stores its data in SQLite or PostgreSQL", id="unsupported-driver"),
        pytest.param("not a url", "cannot be read", id="unreadable"),
    ],
)
def test_a_database_url_kopek_cannot_use_is_invalid_saying_why(url: str, said: str) -> None:
    result = Kopek(url=url).db("accounts", "show", "alice", "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert (error["category"], error["code"]) == ("INVALID", "database_url_invalid")
    assert said in error["message"]


def test_a_sqlite_file_in_a_missing_folder_is_invalid_saying_why(tmp_path: Path) -> None:
    result = Kopek(url=f"sqlite:///{tmp_path}/missing/kopek.db").db("init", "--json")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "database_url_invalid"
    assert "unable to open database file" in json.loads(result.stderr)["message"]

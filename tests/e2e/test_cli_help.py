"""Every ``kopek`` command answers ``--help``; the command tree is the documented one."""

from __future__ import annotations

import pytest
import typer.main
from typer import _click as click
from typer.core import TyperGroup

from kopek import __version__
from kopek.cli import app
from tests.e2e.cli_support import Kopek

EXPECTED_COMMANDS = {
    "init",
    "serve",
    "charge",
    "quote",
    "authorizations create",
    "authorizations show",
    "authorizations capture",
    "authorizations release",
    "demo",
    "catalog validate",
    "catalog load",
    "catalog show",
    "catalog list",
    "catalog diff",
    "catalog schema",
    "api-keys create",
    "api-keys list",
    "api-keys revoke",
    "audit list",
    "master-data load",
    "accounts create",
    "accounts list",
    "accounts update-account",
    "accounts show",
    "accounts update",
    "accounts operations",
    "accounts adjust",
    "contracts create",
    "contracts list",
    "contracts show",
    "contracts update",
    "accesses create",
    "accesses list",
    "sessions start",
    "sessions update",
    "sessions stop",
    "sessions cancel",
    "sessions show",
    "sessions list",
    "sessions cleanup",
    "contract-states export",
    "cdrs import",
    "cdrs list",
    "cdrs show",
    "rate",
    "jobs status",
    "jobs list",
    "jobs cancel",
    "items export",
    "items list",
    "items show",
    "contract-states restore",
    "contract-states schema",
    "migration begin",
    "migration end",
    "fees run",
    "fees activations",
    "refill",
    "recharge",
    "recharge-jobs start",
    "recharge-jobs run",
    "recharge-jobs status",
    "restoration-point",
    "counter-journal prune",
    "notifications list",
    "notifications publish",
    "ledger verify",
}


def _paths(command: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the tree, each group loading its commands as running them would."""
    paths = [prefix]
    if isinstance(command, TyperGroup):
        context = click.Context(command)
        for name in command.list_commands(context):
            child = command.get_command(context, name)
            assert child is not None, name
            paths.extend(_paths(child, (*prefix, name)))
    return paths


ALL_PATHS = _paths(typer.main.get_command(app))


GROUPS = {
    "catalog",
    "authorizations",
    "api-keys",
    "audit",
    "master-data",
    "accounts",
    "contracts",
    "accesses",
    "sessions",
    "contract-states",
    "migration",
    "cdrs",
    "jobs",
    "recharge-jobs",
    "counter-journal",
    "items",
    "fees",
    "notifications",
    "diameter",
    "diameter serve",
    "ledger",
}


def test_the_command_tree_is_the_documented_one() -> None:
    leaves = {" ".join(path) for path in ALL_PATHS if path and " ".join(path) not in GROUPS}
    assert leaves == EXPECTED_COMMANDS


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda path: " ".join(path) or "kopek")
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = Kopek(url=None).run(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("path", [path for path in ALL_PATHS if " ".join(path) in EXPECTED_COMMANDS - {"serve"}], ids=" ".join)
def test_every_command_that_prints_takes_json(path: tuple[str, ...]) -> None:
    assert "--json" in Kopek(url=None).run(*path, "--help").stdout


def test_version_prints_the_package_version() -> None:
    result = Kopek(url=None).run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"kopek {__version__}"

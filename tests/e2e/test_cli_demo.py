"""``kopek demo`` builds its world from a seed, charges it and prints a summary that adds up."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kopek import Engine
from kopek.cli.demo import examples_folder
from kopek.cli.demo_world import build_world
from kopek.errors import KopekError
from tests.e2e.cli_support import REPOSITORY, Kopek


def _demo(*args: str) -> dict[str, Any]:
    result = Kopek(url=None).run("demo", *args, "--json")
    assert result.exit_code == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_the_demo_charges_every_item_and_its_summary_adds_up(tmp_path: Path) -> None:
    summary = _demo("--subscribers", "50", "--items", "500", "--database-url", f"sqlite:///{tmp_path / 'demo.db'}")
    assert (summary["subscribers"], summary["items"]) == (50, 500)
    assert summary["charged"] + summary["refused"] == 500
    assert summary["charged"] > 400
    assert summary["balances_reconciled"] is True
    by_charge = summary["revenue_by_charge"]
    assert {(line["charge_plan"], line["charge"]) for line in by_charge} <= {
        (plan, charge) for plan in ("prepaid_classic", "postpaid_smart") for charge in ("voice", "sms", "data")
    }
    assert sum(Decimal(line["amount"]) for line in by_charge) == Decimal(summary["revenue_total"])
    assert sum(line["items"] for line in by_charge) == summary["charged"]
    assert sum(refusal["count"] for refusal in summary["refusals"]) == summary["refused"]
    codes = {refusal["code"] for refusal in summary["refusals"]}
    assert {"access_not_found", "service_not_accessible"} <= codes
    prepaid, postpaid = summary["prepaid"], summary["postpaid"]
    assert prepaid["accounts"] + postpaid["accounts"] == 50
    assert Decimal(prepaid["opening_total"]) > Decimal(prepaid["balance_total"])
    assert summary["charges_per_second"] > 0


def test_the_demo_resets_its_database_when_asked_and_the_same_seed_gives_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    timing = {"charging_seconds", "charges_per_second", "wall_seconds"}
    first = _demo("--subscribers", "20", "--items", "150", "--seed", "3")
    again = _demo("--subscribers", "20", "--items", "150", "--seed", "3", "--reset")
    assert (tmp_path / "kopek-demo.db").exists()
    assert first["database_url"] == "sqlite:///kopek-demo.db"
    assert {key: value for key, value in first.items() if key not in timing} == {
        key: value for key, value in again.items() if key not in timing
    }


def test_the_human_summary_names_revenue_balances_and_refusals(tmp_path: Path) -> None:
    result = Kopek(url=None).run("demo", "--subscribers", "20", "--items", "100", "--database-url", f"sqlite:///{tmp_path / 'demo.db'}")
    assert result.exit_code == 0, result.stderr
    for heading in (
        "kopek demo: 20 subscribers, 100 items, seed 7",
        "Revenue by charge",
        "Balances",
        "Balances agree with the charged items: yes",
    ):
        assert heading in result.stdout
    assert "Charging" in result.stderr


def test_the_world_depends_on_the_seed_alone() -> None:
    one = build_world(subscribers=100, items=300, seed=11)
    same = build_world(subscribers=100, items=300, seed=11)
    other = build_world(subscribers=100, items=300, seed=12)
    assert one == same
    assert one.items != other.items
    dates = [item.consumption_date for item in one.items]
    assert dates == sorted(dates)
    assert 50 <= len(one.prepaid_account_ids) <= 90
    assert len(one.prepaid_account_ids) + len(one.postpaid_account_ids) == 100


def test_the_examples_come_from_the_source_tree_in_a_checkout() -> None:
    assert examples_folder() == REPOSITORY / "examples"


@pytest.mark.postgres
def test_the_demo_runs_on_postgresql_and_refuses_a_database_with_data(postgres_url: str) -> None:
    summary = _demo("--subscribers", "20", "--items", "100", "--database-url", postgres_url)
    assert summary["balances_reconciled"] is True
    error = Kopek(url=None).refused("demo", "--subscribers", "20", "--items", "100", "--database-url", postgres_url)
    assert (error["category"], error["code"]) == ("ALREADY_EXISTS", "already_exists")


def test_the_demo_refuses_a_database_holding_data_and_deletes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    Kopek(url).ok("accounts", "create", "--id", "zoe", "--currency", "EUR", "--prepaid-balance", "5.00")

    refused = Kopek(url).refused("demo", "--subscribers", "5", "--items", "10")

    assert refused["code"] == "already_exists"
    assert "--reset" in refused["message"]
    with Engine(url) as engine:
        assert engine.account("zoe-prepaid").balance == Decimal("5.00")


def test_the_demo_refuses_a_database_holding_tables_it_does_not_own_even_with_reset(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")

    refused = Kopek(f"sqlite:///{path}").refused("demo", "--subscribers", "5", "--items", "10", "--reset")

    assert refused["code"] == "already_exists"
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("invoices",)]


def test_the_demo_with_reset_empties_the_database_in_place(tmp_path: Path) -> None:
    path = tmp_path / "reset.db"
    url = f"sqlite:///{path}"
    Kopek(url).ok("accounts", "create", "--id", "zoe", "--currency", "EUR", "--prepaid-balance", "5.00")
    inode = path.stat().st_ino

    summary = json.loads(Kopek(url).ok("demo", "--subscribers", "5", "--items", "20", "--reset", "--json").stdout)

    assert summary["subscribers"] == 5
    assert path.stat().st_ino == inode  # the same file: a server using it sees the new data, not a deleted copy
    with Engine(url) as engine, pytest.raises(KopekError):
        engine.subscriber_account("zoe")

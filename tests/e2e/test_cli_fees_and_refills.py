"""``kopek fees run``, ``kopek fees activations`` and ``kopek refill`` through the command's runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import Kopek
from tests.fee_world import CATALOG_YAML

MASTER_DATA = """
subscriber_accounts:
  - id: ann
    currency: EUR
    accounts: [{id: ann-prepaid, kind: prepaid, initial_balance: "40.00"}]
contracts:
  - id: ann-contract
    subscriber_account_id: ann
    valid_from: "2026-01-15T10:00:00Z"
    items: [{id: monthly, charge_plan: monthly}]
    roles: {prepaid: ann-prepaid}
"""


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    catalog, master_data = tmp_path / "fees.yaml", tmp_path / "master-data.yaml"
    catalog.write_text(CATALOG_YAML, encoding="utf-8")
    master_data.write_text(MASTER_DATA, encoding="utf-8")
    cli = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}")
    cli.ok("catalog", "load", str(catalog))
    cli.ok("master-data", "load", str(master_data))
    return cli


def test_fees_run_charges_up_to_the_date_and_a_second_run_charges_nothing(kopek: Kopek) -> None:
    first = kopek.json("fees", "run", "--until", "2026-01-31")
    second = kopek.json("fees", "run", "--until", "2026-01-31")

    assert [fee["amount"] for fee in first["contracts"][0]["applied"]] == ["16.45"]
    assert first["until"] == "2026-01-31T00:00:00Z" and second["fees_applied"] == 0


def test_fees_run_prints_a_summary_and_the_suspended_items(kopek: Kopek) -> None:
    result = kopek.ok("fees", "run", "--until", "2026-03-01T00:00:00+00:00")

    # 40.00 covers 16.45 and February's 30.00 does not fit in the 23.55 left.
    assert "1 period(s) charged on 1 contract(s) of 1; 1 item(s) suspended" in result.stdout
    assert "Contract ann-contract item monthly suspended" in result.stdout
    activations = kopek.json("fees", "activations", "ann-contract")
    assert [(record["id"], record["status"]) for record in activations] == [("monthly", "suspended")]


def test_fees_run_refuses_a_date_that_is_not_a_date(kopek: Kopek) -> None:
    assert kopek.refused("fees", "run", "--until", "soon")["code"] == "request_invalid"


def test_refill_credits_and_a_retry_is_replayed(kopek: Kopek) -> None:
    args = ("refill", "--refill-id", "r-1", "--contract", "ann-contract", "--plan", "topup", "--amount", "20.00")

    first = kopek.json(*args)
    again = kopek.json(*args)
    printed = kopek.ok("refill", "--refill-id", "r-2", "--contract", "ann-contract", "--plan", "fixed20").stdout

    assert (first["balance_after"], first["bonus"]["value_after"], first["replayed"]) == ("60.00", "30", False)
    assert again["replayed"] is True and again["operation_id"] == first["operation_id"]
    assert "Refilled 20.00 EUR to ann-prepaid by plan fixed20: balance 80.00 EUR" in printed


def test_refill_refusals_exit_1_with_the_error(kopek: Kopek) -> None:
    base = ("refill", "--refill-id", "r-1", "--contract", "ann-contract", "--plan", "topup")

    assert kopek.refused(*base, "--amount", "1000")["code"] == "refill_amount_out_of_bounds"
    assert kopek.refused(*base, "--amount", "lots")["code"] == "request_invalid"
    past_the_cents = kopek.refused(*base, "--amount", "5.0000001")
    assert (past_the_cents["code"], past_the_cents["details"][0]["location"]) == ("amount_has_more_places_than_its_currency", ["amount"])

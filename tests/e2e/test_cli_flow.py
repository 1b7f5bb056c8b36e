"""The whole flow on the example files: init, catalog load, master-data load, charge, accounts show.

Prices of ``examples/catalog.yaml`` (plan ``prepaid_classic`` for alice, 20.00 EUR;
``postpaid_smart`` for carol, paid by bob's postpaid account), worked out by hand.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_support import ALICE, BOB, CAROL, EXAMPLE_CATALOG, EXAMPLE_MASTER_DATA, Kopek, call, data, sms


def _balance(kopek: Kopek, subscriber_account_id: str) -> Decimal:
    (account,) = kopek.json("accounts", "show", subscriber_account_id)["accounts"]
    return Decimal(account["balance"])


def _amount(result: dict[str, Any]) -> str:
    (line,) = result["charged_items"]
    return str(line["amount"])


def test_init_load_charge_show_gives_the_hand_computed_balances(any_url: str) -> None:
    kopek = Kopek(url=any_url)
    assert kopek.json("init")["database_url"].startswith(any_url.split(":", 1)[0])
    assert kopek.json("catalog", "load", str(EXAMPLE_CATALOG))["version"] == 1
    assert kopek.json("master-data", "load", str(EXAMPLE_MASTER_DATA))["subscriber_accounts"] == 5

    # EU, 95 s: first minute 0.30, then 35 s x 0.005 = 0.175; 0.475 rounds half up to 0.48.
    assert _amount(kopek.json(*call(ALICE, seconds=95, destination="49301234567"))) == "0.48"
    # National mobile, 1900 s: the 30 free minutes cover 1800 s; the other 100 s cost 0.18 + 40 x 0.003 = 0.30.
    assert _amount(kopek.json(*call(ALICE, seconds=1900, destination="33611112222"))) == "0.30"
    # Any later national call finds the allowance used up: 10 s bill a whole first minute, 0.12.
    assert _amount(kopek.json(*call(ALICE, seconds=10, destination="33140000000", at="2026-06-02T10:00:00+02:00"))) == "0.12"
    # SMS to the EU: 0.15.
    assert _amount(kopek.json(*sms(ALICE, zone="eu"))) == "0.15"
    # 750 MB of data: 500 MB x 0.02 = 10.00, then 250 MB x 0.01 = 2.50.
    assert _amount(kopek.json(*data(ALICE, volume_bytes=750_000_000))) == "12.50"
    # International, 30 s: connect fee 0.50 + a whole first minute 1.20.
    assert _amount(kopek.json(*call(ALICE, seconds=30, destination="12125550100"))) == "1.70"
    # 20.00 - 0.48 - 0.30 - 0.12 - 0.15 - 12.50 - 1.70 = 4.75
    assert _balance(kopek, "alice") == Decimal("4.75")

    # Carol's national call is within her 300 free minutes; her SMS abroad (0.25) lands on bob's bill.
    assert _amount(kopek.json(*call(CAROL, seconds=120, destination="33140000000"))) == "0.00"
    assert _amount(kopek.json(*sms(CAROL, zone="international"))) == "0.25"
    assert _balance(kopek, "bob") == Decimal("0.25")

    human = kopek.ok("accounts", "show", "alice").stdout
    assert "alice-prepaid" in human
    assert "4.75" in human


def test_a_refused_charge_exits_1_with_the_structured_error_on_stderr(tmp_path: Path) -> None:
    kopek = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    # International, 900 s: 0.50 + 1.20 + 840 x 0.02 = 18.50 fits in 20.00; a second one does not.
    kopek.ok(*call(ALICE, seconds=900, destination="12125550100"))

    error = kopek.refused(*call(ALICE, seconds=900, destination="12125550100"))
    assert (error["category"], error["reason"], error["code"]) == ("ILLEGAL_STATE", "CANNOT_CHARGE_ACCOUNT", "prepaid_balance_cannot_cover")

    result = kopek.db(*call(ALICE, seconds=900, destination="12125550100"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error [ILLEGAL_STATE/CANNOT_CHARGE_ACCOUNT/prepaid_balance_cannot_cover]: prepaid account 'alice-prepaid'"
    )
    assert _balance(kopek, "alice") == Decimal("1.50")


@pytest.mark.parametrize(
    ("args", "category", "reason", "code"),
    [
        pytest.param(
            call(ALICE, seconds=60, destination="33890000000"),
            "ILLEGAL_STATE",
            "NOT_AUTHORIZED",
            "service_not_accessible",
            id="premium-barred",
        ),
        pytest.param(
            call("33700000000", seconds=60, destination="33140000000"),
            "PREREQUISITE_MISSING",
            "NOT_AUTHORIZED",
            "access_not_found",
            id="unknown-user",
        ),
        pytest.param(
            call(CAROL, seconds=60, destination="33140000000", at="2026-03-01T10:00:00+01:00"),
            "PREREQUISITE_MISSING",
            "NOT_AUTHORIZED",
            "access_not_found",
            id="before-the-access",
        ),
        pytest.param(
            [*call(ALICE, seconds=60, destination="33140000000"), "-p", "colour=red"],
            "INVALID",
            None,
            "property_unknown",
            id="unknown-property",
        ),
        pytest.param(
            call(ALICE, seconds=60, destination="33140000000", at="yesterday"), "INVALID", None, "request_invalid", id="unreadable-date"
        ),
        pytest.param(
            [*call(ALICE, seconds=60, destination="33140000000"), "--option", "everything"],
            "INVALID",
            None,
            "request_invalid",
            id="unknown-option",
        ),
    ],
)
def test_refusals_carry_category_reason_and_code(tmp_path: Path, args: list[str], category: str, reason: str | None, code: str) -> None:
    kopek = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    error = kopek.refused(*args)
    assert (error["category"], error["reason"], error["code"]) == (category, reason, code)
    assert _balance(kopek, "alice") == Decimal("20.00")


def test_the_result_holds_exactly_the_sections_asked_for(tmp_path: Path) -> None:
    kopek = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    plain = kopek.json(*sms(ALICE, zone="national"))
    assert set(plain) == {"operation_id", "charged_items"}
    full = kopek.json(
        *sms(ALICE, zone="national", at="2026-06-01T11:05:00+02:00"),
        "--option",
        "account_info,account_operations",
        "--option",
        "contract_info",
    )
    assert set(full) == {"operation_id", "charged_items", "account_info", "account_operations", "contract_info"}
    assert full["account_info"][0]["balance"] == "19.80"
    assert full["account_operations"][0] == {
        "account_id": "alice-prepaid",
        "kind": "debit",
        "amount": "-0.10",
        "balance_after": "19.80",
        "currency": "EUR",
    }


def test_a_retry_with_the_same_idempotency_key_charges_once(tmp_path: Path) -> None:
    kopek = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    args = [*sms(ALICE, zone="international"), "--idempotency-key", "sms-1", "--option", "charging_process_info"]
    first = kopek.json(*args)
    again = kopek.json(*args)
    assert again["operation_id"] == first["operation_id"]
    assert (first["charging_process_info"]["replayed"], again["charging_process_info"]["replayed"]) == (False, True)
    assert "replayed" in kopek.ok(*args).stdout
    assert _balance(kopek, "alice") == Decimal("19.70")
    error = kopek.refused(*sms(ALICE, zone="eu"), "--idempotency-key", "sms-1")
    assert (error["category"], error["code"]) == ("ALREADY_EXISTS", "idempotency_key_reused_with_different_item")


def test_the_human_result_shows_charged_items_and_total(tmp_path: Path) -> None:
    kopek = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").loaded()
    text = kopek.ok(*call(BOB, seconds=95, destination="49301234567"), "--option", "account_info").stdout
    # Postpaid EU, 95 s: 0.24 + 35 x 0.004 = 0.38.
    assert "Total: 0.38 EUR" in text
    assert "bob-postpaid" in text


def test_the_database_url_comes_from_the_environment_then_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from_environment = Kopek(url=None, env={"KOPEK_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"})
    assert json.loads(from_environment.run("init", "--json").stdout)["database_url"] == f"sqlite:///{tmp_path / 'env.db'}"
    assert (tmp_path / "env.db").exists()
    default = Kopek(url=None)
    assert json.loads(default.run("init", "--json").stdout)["database_url"] == "sqlite:///kopek.db"
    assert (tmp_path / "kopek.db").exists()

"""``kopek master-data``, ``accounts``, ``contracts`` and ``accesses``: create, show, update, refuse."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.cli_support import ALICE, EXAMPLE_CATALOG, Kopek, call, sms, write


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    return Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}")


def _dave(kopek: Kopek) -> None:
    """Dave: prepaid 5.00 EUR on prepaid_classic, number 33600000001, from options alone."""
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("accounts", "create", "--id", "dave", "--currency", "EUR", "--prepaid-balance", "5.00", "--name", "Dave")
    kopek.ok(
        "contracts", "create", "--id", "dave-mobile", "--subscriber-account-id", "dave", "--valid-from", "2026-01-01T00:00:00+01:00",
        "--item", "plan=prepaid_classic", "--role", "prepaid=dave-prepaid",
    )  # fmt: skip
    kopek.ok(
        "accesses",
        "create",
        "--service-id",
        "mobile",
        "--user-id",
        "33600000001",
        "--contract-id",
        "dave-mobile",
        "--valid-from",
        "2026-01-01T00:00:00+01:00",
    )


def test_accounts_create_from_options_makes_the_named_accounts(kopek: Kopek) -> None:
    created = kopek.json(
        "accounts", "create", "--id", "erin", "--currency", "EUR", "--prepaid-balance", "7.50", "--postpaid-credit-limit", "100"
    )
    assert created["id"] == "erin"
    assert sorted(
        (account["account_id"], account["kind"], account["balance"], account["credit_limit"]) for account in created["accounts"]
    ) == [
        ("erin-postpaid", "postpaid", "0", "100"),
        ("erin-prepaid", "prepaid", "7.50", None),
    ]


def test_accounts_create_from_a_file(kopek: Kopek, tmp_path: Path) -> None:
    record = write(tmp_path / "frank.yaml", "id: frank\ncurrency: EUR\naccounts:\n  - {id: frank-main, kind: postpaid}\n")
    created = kopek.json("accounts", "create", "--file", str(record))
    assert [account["account_id"] for account in created["accounts"]] == ["frank-main"]


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        pytest.param(["--id", "gina"], "request_invalid", 2, id="no-currency"),
        pytest.param(["--id", "gina", "--currency", "euro"], "request_invalid", 1, id="bad-currency"),
        pytest.param(["--id", "gina", "--currency", "EUR", "--prepaid-balance", "1.2.3"], "request_invalid", 1, id="bad-amount"),
        pytest.param(["--id", "gina", "--currency", "EUR", "--file", "gina.yaml"], "request_invalid", 2, id="file-and-options"),
    ],
)
def test_accounts_create_refuses_bad_input(kopek: Kopek, args: list[str], code: str, exit_code: int) -> None:
    """A value refused exits 1; options missing or mixed are a usage error of the command line, exit 2."""
    error = kopek.refused("accounts", "create", *args, exit_code=exit_code)
    assert (error["category"], error["code"]) == ("INVALID", code)


def test_accounts_create_refuses_a_duplicate(kopek: Kopek) -> None:
    kopek.ok("accounts", "create", "--id", "hugo", "--currency", "EUR")
    error = kopek.refused("accounts", "create", "--id", "hugo", "--currency", "EUR")
    assert (error["category"], error["code"]) == ("ALREADY_EXISTS", "already_exists")


def test_blocking_an_account_refuses_its_charges(kopek: Kopek) -> None:
    _dave(kopek)
    assert kopek.json("accounts", "update", "dave", "--status", "blocked")["status"] == "blocked"
    error = kopek.refused(*call("33600000001", seconds=60, destination="33140000000"))
    assert (error["category"], error["reason"], error["code"]) == ("ILLEGAL_STATE", "ACCOUNT_BLOCKED", "account_blocked")


def test_adjust_credits_the_balance_and_operations_list_it(kopek: Kopek) -> None:
    _dave(kopek)
    kopek.ok(*sms("33600000001", zone="national"))
    assert kopek.json("accounts", "adjust", "dave-prepaid", "--amount", "10.00", "--reason", "top-up")["balance"] == "14.90"
    assert kopek.json("accounts", "adjust", "dave-prepaid", "--amount=-0.90", "--reason", "correction")["balance"] == "14.00"
    operations = kopek.json("accounts", "operations", "dave-prepaid")
    assert [(operation["kind"], operation["amount"], operation["balance_after"]) for operation in operations] == [
        ("opening", "5.00", "5.00"),
        ("debit", "-0.10", "4.90"),
        ("credit", "10.00", "14.90"),
        ("adjustment", "-0.90", "14.00"),
    ]
    assert "adjustment" in kopek.ok("accounts", "operations", "dave-prepaid").stdout
    error = kopek.refused("accounts", "operations", "nobody-prepaid")
    assert (error["category"], error["code"]) == ("DOES_NOT_EXIST", "not_found")


def test_adjust_refuses_an_amount_past_the_currency_places(kopek: Kopek) -> None:
    _dave(kopek)

    error = kopek.refused("accounts", "adjust", "dave-prepaid", "--amount", "0.001")

    assert (error["category"], error["code"], error["details"][0]["location"]) == (
        "INVALID",
        "amount_has_more_places_than_its_currency",
        ["amount"],
    )
    assert kopek.json("accounts", "show", "dave")["accounts"][0]["balance"] == "5.00"


def test_contracts_show_and_update(kopek: Kopek) -> None:
    _dave(kopek)
    kopek.ok(*call("33600000001", seconds=90, destination="33140000000"))
    shown = kopek.json("contracts", "show", "dave-mobile")
    assert shown["items"] == [{"id": "plan", "charge_plan": "prepaid_classic"}]
    assert shown["roles"] == {"prepaid": "dave-prepaid"}
    assert [counter["value"] for counter in shown["counters"] if counter["name"] == "free_minutes"] == ["28.5"]
    ended = kopek.json("contracts", "update", "dave-mobile", "--valid-to", "2026-06-01T00:00:00+02:00")
    assert ended["valid_to"] == "2026-05-31T22:00:00Z"
    error = kopek.refused(*call("33600000001", seconds=60, destination="33140000000"))
    assert (error["reason"], error["code"]) == ("OUT_OF_VALIDITY_PERIOD", "contract_out_of_validity_period")
    assert kopek.json("contracts", "update", "dave-mobile", "--valid-to", "none")["valid_to"] is None
    assert "Contract dave-mobile of dave: active" in kopek.ok("contracts", "show", "dave-mobile").stdout


def test_contracts_create_names_each_fault(kopek: Kopek) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    kopek.ok("accounts", "create", "--id", "ivy", "--currency", "EUR")
    error = kopek.refused(
        "contracts", "create", "--id", "ivy-mobile", "--subscriber-account-id", "ivy", "--valid-from", "2026-01-01T00:00:00Z",
        "--item", "plan=gold", "--role", "prepaid=ivy-prepaid",
    )  # fmt: skip
    assert (error["category"], error["code"]) == ("INVALID", "master_data_invalid")
    assert [(detail["location"], detail["message"]) for detail in error["details"]] == [
        (["items", 0, "charge_plan"], "unknown charge plan 'gold'"),
        (["roles", "prepaid"], "role 'prepaid' names unknown account 'ivy-prepaid'"),
    ]


def test_accesses_list_by_user_or_by_contract(kopek: Kopek) -> None:
    _dave(kopek)
    by_user = kopek.json("accesses", "list", "--service-id", "mobile", "--user-id", "33600000001")
    by_contract = kopek.json("accesses", "list", "--contract-id", "dave-mobile")
    assert by_user == by_contract
    assert [access["contract_id"] for access in by_user["accesses"]] == ["dave-mobile"]
    kopek.ok(
        "accesses",
        "create",
        "--service-id",
        "fixed",
        "--user-id",
        "0140000000",
        "--contract-id",
        "dave-mobile",
        "--valid-from",
        "2026-01-01T00:00:00+01:00",
    )
    by_service = kopek.json("accesses", "list", "--service-id", "mobile", "--limit", "1")
    assert ([access["user_id"] for access in by_service["accesses"]], by_service["next_after_id"]) == (["33600000001"], None)
    assert [access["service_id"] for access in kopek.json("accesses", "list", "--contract-id", "dave-mobile")["accesses"]] == [
        "mobile",
        "fixed",
    ]
    overlap = kopek.refused(
        "accesses",
        "create",
        "--service-id",
        "mobile",
        "--user-id",
        "33600000001",
        "--contract-id",
        "dave-mobile",
        "--valid-from",
        "2026-02-01T00:00:00Z",
    )
    assert overlap["category"] == "ALREADY_EXISTS"


def test_master_data_load_is_all_or_nothing(kopek: Kopek, tmp_path: Path) -> None:
    kopek.ok("catalog", "load", str(EXAMPLE_CATALOG))
    document = write(
        tmp_path / "half.yaml",
        textwrap.dedent("""
            subscriber_accounts:
              - {id: jack, currency: EUR, accounts: [{id: jack-prepaid, kind: prepaid, initial_balance: "3.00"}]}
            contracts:
              - {id: jack-mobile, subscriber_account_id: jack, valid_from: "2026-01-01T00:00:00Z",
                 items: [{id: plan, charge_plan: prepaid_classic}], roles: {prepaid: nobody-prepaid}}
        """),
    )
    error = kopek.refused("master-data", "load", str(document))
    assert (error["category"], error["code"]) == ("INVALID", "master_data_invalid")
    missing = kopek.refused("accounts", "show", "jack")
    assert missing["category"] == "DOES_NOT_EXIST"


def test_master_data_load_prints_file_path_message_for_malformed_records(kopek: Kopek, tmp_path: Path) -> None:
    document = write(tmp_path / "bad.yaml", "subscriber_accounts:\n  - {id: kim}\n  - {id: lou, currency: EUR, colour: red}\n")
    result = kopek.db("master-data", "load", str(document))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        f"{document}: subscriber_accounts[0].currency: Field required",
        f"{document}: subscriber_accounts[1].colour: Extra inputs are not permitted",
    ]


def test_an_alice_call_works_after_loading_the_example_master_data(kopek: Kopek) -> None:
    kopek.loaded()
    assert kopek.json(*call(ALICE, seconds=30, destination="33140000000"))["charged_items"][0]["amount"] == "0.00"

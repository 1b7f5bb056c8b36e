"""Finding and listing over HTTP and on the command line: the same filters, the same pages, the same records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e.cli_support import ALICE, BOB, EXAMPLE_CATALOG, Kopek, call, write
from tests.e2e.http_world import error_of, ok
from tests.worlds import AT

LIST_ROUTES = [
    ("/v1/subscriber-accounts", "subscriber_accounts", "id"),
    ("/v1/contracts", "contracts", "id"),
    ("/v1/accesses", "accesses", "id"),
    ("/v1/sessions", "sessions", "session_id"),
    ("/v1/cdrs", "cdrs", "id"),
    ("/v1/rating-jobs", "rating_jobs", "id"),
    ("/v1/catalog/versions", "versions", "version"),
    ("/v1/notifications", "notifications", "id"),
    ("/v1/item-files", "files", "id"),
]


def _walk(client: TestClient, path: str, key: str, field: str, *, limit: int = 1) -> list[object]:
    """Every record of a list route, ``limit`` at a time, following next_after_id."""
    seen: list[object] = []
    after: object = None
    while True:
        separator = "&" if "?" in path else "?"
        cursor = "" if after is None else f"&after_id={after}"
        body = ok(client.get(f"{path}{separator}limit={limit}{cursor}"))
        seen += [record[field] for record in body[key]]
        after = body["next_after_id"]
        if after is None:
            return seen


@pytest.mark.parametrize(("path", "key", "field"), LIST_ROUTES, ids=[route[1] for route in LIST_ROUTES])
def test_every_list_route_pages_in_order_to_the_last_record(client: TestClient, path: str, key: str, field: str) -> None:
    ok(client.post("/v1/sessions", json=_start("s1")), 201)
    ok(client.post("/v1/sessions", json=_start("s2", user_id="bob-msisdn")), 201)
    everything = ok(client.get(f"{path}?limit=1000"))

    one_by_one = _walk(client, path, key, field)

    assert one_by_one == [record[field] for record in everything[key]]
    assert everything["next_after_id"] is None


def _start(session_id: str, *, user_id: str = "alice-msisdn") -> dict[str, object]:
    return {
        "session_id": session_id,
        "service_id": "mobile",
        "user_id": user_id,
        "consumption_date": AT.isoformat(),
        "ttl_ms": 60_000,
        "quantity_property": "duration",
        "requested_quantity": "60",
        "item": {"item_class": "voice_call", "properties": {"destination": "33123"}},
    }


def test_lists_filter_over_http(client: TestClient) -> None:
    ok(client.post("/v1/sessions", json=_start("s1")), 201)
    ok(client.post("/v1/sessions/s1/stop", json={}))
    ok(client.post("/v1/sessions", json=_start("s2", user_id="bob-msisdn")), 201)

    assert [view["id"] for view in ok(client.get("/v1/contracts?account_id=bob-postpaid"))["contracts"]] == ["bob-contract"]
    assert [view["id"] for view in ok(client.get("/v1/subscriber-accounts?currency=EUR&status=active"))["subscriber_accounts"]] == [
        "alice",
        "bob",
    ]
    assert [view["user_id"] for view in ok(client.get("/v1/accesses?service_id=mobile&user_id=bob-msisdn"))["accesses"]] == ["bob-msisdn"]
    assert [view["session_id"] for view in ok(client.get("/v1/sessions?status=active"))["sessions"]] == ["s2"]
    assert [view["session_id"] for view in ok(client.get("/v1/sessions?subscriber_account_id=alice"))["sessions"]] == ["s1"]


def test_list_filters_are_checked_at_the_boundary(client: TestClient) -> None:
    assert error_of(client.get("/v1/contracts?status=sleeping"), 422)["code"] == "request_invalid"
    assert error_of(client.get(f"/v1/contracts?after_id={'x' * 129}"), 422)["code"] == "request_invalid"
    assert error_of(client.get("/v1/subscriber-accounts?currency=euro"), 422)["code"] == "request_invalid"
    assert error_of(client.get("/v1/contracts?valid_at=2026-06-01T10:00:00"), 422)["code"] == "request_invalid"
    assert error_of(client.get("/v1/catalog/versions/7"), 404)["code"] == "not_found"


def test_an_account_s_own_status_over_http(client: TestClient) -> None:
    blocked = ok(client.patch("/v1/accounts/alice-prepaid", json={"status": "blocked"}))
    refused = error_of(client.post("/v1/charging", json=_charge()), 409)

    assert blocked["status"] == "blocked"
    assert (refused["reason"], refused["code"]) == ("ACCOUNT_BLOCKED", "account_blocked")
    assert ok(client.get("/v1/subscriber-accounts/alice"))["status"] == "active"


def _charge() -> dict[str, object]:
    item = {"item_class": "sms", "consumption_date": AT.isoformat(), "service_id": "mobile", "user_id": "alice-msisdn"}
    return {"item": item | {"properties": {"destination": "33123"}}}


# ---- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    return Kopek(url=any_url).loaded()


def test_every_noun_lists_on_the_command_line_with_the_same_page_shape(kopek: Kopek) -> None:
    kopek.ok(*call(ALICE, seconds=90, destination="49301234567"))
    for command, key in (
        (("accounts", "list"), "subscriber_accounts"),
        (("contracts", "list"), "contracts"),
        (("accesses", "list"), "accesses"),
        (("sessions", "list"), "sessions"),
        (("cdrs", "list"), "cdrs"),
        (("jobs", "list"), "rating_jobs"),
        (("catalog", "list"), "versions"),
        (("notifications", "list"), "notifications"),
        (("items", "list"), "files"),
    ):
        listed = kopek.json(*command)
        assert set(listed) == {key, "next_after_id"}, command


def test_lists_page_and_filter_on_the_command_line(kopek: Kopek) -> None:
    first = kopek.json("accounts", "list", "--limit", "2")
    second = kopek.json("accounts", "list", "--after-id", first["next_after_id"])

    assert [view["id"] for view in first["subscriber_accounts"]] == ["alice", "bob"]
    assert ([view["id"] for view in second["subscriber_accounts"]], second["next_after_id"]) == (["carol", "dan", "eve"], None)
    assert "More follow: add --after-id bob" in kopek.ok("accounts", "list", "--limit", "2").stdout
    assert [view["id"] for view in kopek.json("contracts", "list", "--account", "bob-postpaid")["contracts"]] == [
        "bob-mobile",
        "carol-mobile",
    ]
    assert [view["user_id"] for view in kopek.json("accesses", "list", "--contract-id", "alice-mobile")["accesses"]] == [ALICE]
    assert "carol-mobile" in kopek.ok("contracts", "list", "--charge-plan", "postpaid_smart").stdout


def test_cdrs_and_jobs_list_on_the_command_line(kopek: Kopek, tmp_path: Path) -> None:
    cdrs = write(
        tmp_path / "cdrs.csv",
        "id,item_class,consumption_date,service_id,user_id,zone\n"
        f"a1,sms,2026-06-01T08:00:00+00:00,mobile,{ALICE},national\n"
        f"b1,sms,2026-06-01T09:00:00+00:00,mobile,{BOB},eu\n",
    )
    kopek.ok("cdrs", "import", str(cdrs))
    pending = kopek.json("cdrs", "list", "--status", "pending", "--contract", "alice-mobile")
    kopek.ok("rate")

    assert [view["id"] for view in pending["cdrs"]] == ["a1"]
    (job,) = kopek.json("jobs", "list")["rating_jobs"]
    assert (job["state"], job["total"]) == ("succeeded", 2)
    assert [view["id"] for view in kopek.json("cdrs", "list", "--job", job["id"], "--status", "charged")["cdrs"]] == ["a1", "b1"]
    # A balance leads to its CDRs: the job's debit of alice's account names its chunk, which holds a1 (and b1: the job
    # charges small partitions together).
    (debit,) = [operation for operation in kopek.json("accounts", "operations", "alice-prepaid") if operation["kind"] == "debit"]
    assert (debit["operation_id"], debit["chunk_id"].startswith(f"{job['id']}/")) == (None, True)
    assert debit["chunk_id"] in kopek.ok("accounts", "operations", "alice-prepaid").stdout
    assert [view["id"] for view in kopek.json("cdrs", "list", "--chunk", debit["chunk_id"])["cdrs"]] == ["a1", "b1"]


def test_catalog_versions_and_their_diff_on_the_command_line(kopek: Kopek, tmp_path: Path) -> None:
    cheaper = EXAMPLE_CATALOG.read_text(encoding="utf-8").replace(
        'national: {type: flat, amount: "0.10"}', 'national: {type: flat, amount: "0.09"}'
    )
    kopek.ok("catalog", "load", str(write(tmp_path / "cheaper.yaml", cheaper)))

    versions = kopek.json("catalog", "list")["versions"]
    diff = kopek.json("catalog", "diff", "1")
    shown = kopek.ok("catalog", "diff", "1", "2").stdout

    assert [version["version"] for version in versions] == [1, 2]
    assert [(change["kind"], change["path"], change["before"], change["after"]) for change in diff["changes"]] == [
        ("changed", "charge_plans[prepaid_classic@1].charges[sms].price.cases.national.amount", "0.10", "0.09")
    ]
    assert '~ charge_plans[prepaid_classic@1].charges[sms].price.cases.national.amount: "0.10" -> "0.09"' in shown
    assert json.loads(kopek.ok("catalog", "show", "--version", "1", "--json").stdout)["version"] == 1


def test_an_account_s_own_status_on_the_command_line(kopek: Kopek) -> None:
    blocked = kopek.json("accounts", "update-account", "alice-prepaid", "--status", "blocked")
    refused = kopek.refused(*call(ALICE, seconds=60, destination="33123456789"))

    assert blocked["status"] == "blocked"
    assert refused["code"] == "account_blocked"
    assert "blocked" in kopek.ok("accounts", "show", "alice").stdout

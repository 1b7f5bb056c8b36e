"""``kopek recharge``, ``kopek restoration-point`` and ``kopek recharge-jobs`` through the command's runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from kopek.store.schema import counter_journal
from tests.e2e.cli_support import Kopek, write
from tests.recharge_world import CORRECTED, TARIFF, month_of_usage

MASTER_DATA = """
subscriber_accounts:
  - {id: ann, currency: EUR, accounts: [{id: ann-prepaid, kind: prepaid, initial_balance: "50.00"}]}
  - {id: ben, currency: EUR, accounts: [{id: ben-postpaid, kind: postpaid}]}
contracts:
  - {id: ann-line, subscriber_account_id: ann, valid_from: "2026-01-01T00:00:00Z", items: [{id: plan, charge_plan: mobile}],
     roles: {payer: ann-prepaid}}
  - {id: ben-line, subscriber_account_id: ben, valid_from: "2026-01-01T00:00:00Z", items: [{id: plan, charge_plan: mobile}],
     roles: {payer: ben-postpaid}}
accesses:
  - {service_id: mobile, user_id: ann, contract_id: ann-line, valid_from: "2026-01-01T00:00:00Z"}
  - {service_id: mobile, user_id: ben, contract_id: ben-line, valid_from: "2026-01-01T00:00:00Z"}
"""
RETENTION = {"KOPEK_RECHARGE_RETENTION_DAYS": "3660"}
"""The usage is of June 2026 and the command runs on the system clock: a window wide enough to reach it."""


@pytest.fixture
def kopek(tmp_path: Path) -> Kopek:
    cli = Kopek(f"sqlite:///{tmp_path / 'kopek.db'}", env=RETENTION)
    cli.ok("catalog", "load", str(write(tmp_path / "wrong.yaml", TARIFF.replace("MINUTE", "0.20").replace("TEXT", "0.10"))))
    cli.ok("master-data", "load", str(write(tmp_path / "master-data.yaml", MASTER_DATA)))
    for holder in ("ann", "ben"):
        for item in month_of_usage(holder):
            properties = [part for name, value in item.properties.items() for part in ("-p", f"{name}={value}")]
            cli.ok(
                "charge",
                "--class",
                item.item_class,
                "--service-id",
                "mobile",
                "--user-id",
                holder,
                "--at",
                item.consumption_date.isoformat(),
                *properties,
            )
    corrected = TARIFF.replace("MINUTE", CORRECTED[0]).replace("TEXT", CORRECTED[1])
    cli.ok("catalog", "load", str(write(tmp_path / "corrected.yaml", corrected)))
    return cli


def test_recharge_prints_the_compensation_and_a_second_recharge_writes_none(kopek: Kopek) -> None:
    first = kopek.ok("recharge", "ann-line", "--from", "2026-06-01T00:00:00Z").stdout
    second = kopek.ok("recharge", "ann-line", "--from", "2026-06-01").stdout

    assert "7 items, 6 changed, 0 refused" in first
    assert "ann-prepaid: 0.91 EUR, balance 47.21" in first
    assert "No account operation: the charges are the same." in second


def test_recharge_as_json_and_its_refusals_exit_1_with_the_error(kopek: Kopek) -> None:
    result = kopek.json("recharge", "ben-line", "--from", "2026-06-01T00:00:00Z", "--catalog-version", "2")

    assert result["compensations"] == [{"account_id": "ben-postpaid", "amount": "-0.91", "balance_after": "2.79", "currency": "EUR"}]
    assert kopek.refused("recharge", "nobody", "--from", "2026-06-01")["code"] == "not_found"
    assert kopek.refused("recharge", "ben-line", "--from", "2016-06-01")["code"] == "restoration_point_out_of_reach"
    assert kopek.db("recharge", "ben-line", "--from", "June").exit_code == 2


def test_restoration_point_prints_the_state_as_of_a_date(kopek: Kopek) -> None:
    point = kopek.json("restoration-point", "ann-line", "--at", "2026-06-15T00:00:00Z")

    assert point["items_since"] == 4
    assert point["state"]["contract_id"] == "ann-line"
    assert point["account_effects"] == [{"account_id": "ann-prepaid", "amount": "-3.20"}]


def test_recharge_jobs_start_recharges_every_contract_and_status_reads_it_back(kopek: Kopek) -> None:
    status = kopek.json("recharge-jobs", "start", "--from", "2026-06-01T00:00:00Z", "--plan", "mobile")

    assert (status["state"], status["total"], status["recharged"], status["refused"]) == ("succeeded", 2, 2, 0)
    assert kopek.json("recharge-jobs", "status", status["id"]) == status
    assert kopek.json("recharge-jobs", "run", status["id"]) == status
    # Without --path auto, every contract is priced on the row path.
    assert (status["recharged_columnar"], status["recharged_row"]) == (0, 2)
    shown = kopek.ok("recharge-jobs", "status", status["id"]).stdout
    assert "2 recharged (0 column-wise, 2 on the row path), 0 refused, 0 pending of 2 (100%)" in shown


def test_counter_journal_prune_deletes_what_is_older_than_the_window(kopek: Kopek) -> None:
    assert kopek.json("counter-journal", "prune")["deleted"] == 0  # everything was charged just now
    assert kopek.url is not None
    database = sa.create_engine(kopek.url)
    try:
        with database.begin() as connection:  # the four entries of June, as if recorded eleven years ago
            connection.execute(sa.update(counter_journal).values(recorded_at=datetime(2015, 6, 1, tzinfo=UTC)))
    finally:
        database.dispose()

    pruned = kopek.json("counter-journal", "prune")

    assert (pruned["deleted"], pruned["more"]) == (4, False)
    assert "Pruned 0 counter journal entries recorded before" in kopek.ok("counter-journal", "prune").stdout

"""The worked example of docs/recharging.md, run: its tariff and its three tables are read from the page and checked.

The tariff is the page's YAML word for word; version 2 is it with the two amounts the page
names. The items are charged, June's billable items exported, the tariff corrected, the line
recharged and the corrections exported; the page's tables of items, account operations and
item-file rows must be what the run gives.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from kopek import Engine
from kopek.documents import parse_document
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.store.schema import charged_items
from tests.fakes import FixedClock, SequentialIds
from tests.recharge_world import MONTH, NOW, month_of_usage

PAGE = Path(__file__).resolve().parents[2] / "docs" / "recharging.md"


def _section(marker: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text[text.index(f"<!-- {marker} -->") :]


def _tariff() -> str:
    section = _section("tariff")
    return section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n", 10)]


def _table(marker: str) -> list[list[str]]:
    rows = []
    for line in _section(marker).splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [row for row in rows[2:] if not row[-1].startswith("**")]


def test_the_worked_example_of_the_recharging_page(tmp_path: Path) -> None:
    wrong = _tariff()
    corrected = wrong.replace('amount: "0.20"', 'amount: "0.15"').replace('amount: "0.10"', 'amount: "0.08"')
    assert corrected != wrong and wrong.count('amount: "0.') == 2
    with Engine(f"sqlite:///{tmp_path / 'kopek.db'}", clock=FixedClock(NOW), new_id=SequentialIds()) as engine:
        engine.load_catalog(parse_document(wrong, source="tariff.yaml"))
        engine.load_master_data(_master_data(tmp_path))
        first = [engine.charge(item) for item in month_of_usage("ann")]
        engine.export_item_files(tmp_path / "files", kinds=[ItemFileKind.BILLABLE], file_format=ItemFileFormat.CSV)
        engine.load_catalog(parse_document(corrected, source="corrected.yaml"))

        result = engine.recharge("ann-line", MONTH)
        engine.export_item_files(tmp_path / "files", kinds=[ItemFileKind.BILLABLE], file_format=ItemFileFormat.CSV)
        again = engine.recharge("ann-line", MONTH)

        charged = [str(one.charged_items[0].amount) for one in first if one.charged_items]
        recharged = [row[4] for row in _table("items")]
        assert [row[3] for row in _table("items")] == charged
        assert _items_recharged(engine) == recharged
        operations = [
            [operation.kind, str(operation.amount), str(operation.balance_after)] for operation in engine.account_operations("ann-prepaid")
        ]
        assert operations == _table("operations")
        assert [(each.account_id, each.amount) for each in result.compensations] == [("ann-prepaid", Decimal("0.91"))]
        assert (result.items_recharged, result.items_changed, again.items_changed, again.compensations) == (7, 6, 0, [])
        assert _rows(tmp_path / "files", "billable-0000000002.csv", result.recharge_id) == _table("rows")


def _master_data(folder: Path) -> Path:
    path = folder / "master-data.yaml"
    path.write_text(
        """
subscriber_accounts:
  - {id: ann, currency: EUR, accounts: [{id: ann-prepaid, kind: prepaid, initial_balance: "50.00"}]}
contracts:
  - {id: ann-line, subscriber_account_id: ann, valid_from: "2026-01-01T00:00:00Z", items: [{id: plan, charge_plan: mobile}],
     roles: {payer: ann-prepaid}}
accesses:
  - {service_id: mobile, user_id: ann, contract_id: ann-line, valid_from: "2026-01-01T00:00:00Z"}
""",
        encoding="utf-8",
    )
    return path


def _items_recharged(engine: Engine) -> list[str]:
    with engine.database.connect() as connection:
        query = (
            sa.select(charged_items.c.amount)
            .where(charged_items.c.superseded_by.is_(None), charged_items.c.reverses_id.is_(None))
            .order_by(charged_items.c.consumption_date)
        )
        return [str(amount) for amount in connection.execute(query).scalars()]


def _rows(folder: Path, name: str, recharge_id: str) -> list[list[str]]:
    (path,) = folder.rglob(name)
    with path.open(encoding="utf-8", newline="") as opened:
        rows = list(csv.DictReader(opened))
    assert {row["recharge_id"] for row in rows} == {recharge_id}
    wanted = ("charged_item_id", "operation_id", "charge", "amount", "quantity", "reverses_charged_item_id")
    return [[row[column] for column in wanted] for row in rows]

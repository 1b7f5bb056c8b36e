"""Item files: every charged item lands in exactly one file of each kind it belongs to, readable without kopek.

Files are read back with pyarrow and with DuckDB (no kopek code) and checked against
the database: the same ids, the same amounts to the last decimal, row counts equal to
the manifests, checksums equal to the bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from kopek import ChargeableItem, Engine, ResultOptions
from kopek.documents import parse_document
from kopek.errors import IllegalSystemStateError, InvalidError
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.export.run import ExportRequest, claim_file
from kopek.export.views import ExportReport
from kopek.limits import ITEM_FILE_ROWS_MAX
from kopek.store.item_file_store import WRITING
from kopek.store.schema import charged_items, charging_operations, exported_items, item_files
from kopek.store.uow import UnitOfWork
from tests.fakes import FixedClock, SequentialIds
from tests.integration.support import exact_sum
from tests.worlds import AT, CATALOG_YAML, build_world, call

# sms become consumption-only items, so the world has billable-only (data), consumption-only (sms) and both (voice).
CONSUMPTION_SMS_CATALOG = CATALOG_YAML.replace(
    '        price: {type: flat, amount: "0.10"}', '        output: consumption\n        price: {type: flat, amount: "0.10"}'
)


def sms(user: str = "bob-msisdn") -> ChargeableItem:
    return ChargeableItem("sms", AT, "mobile", user, {"destination": "33123"})


def data(megabytes: int, user: str = "bob-msisdn") -> ChargeableItem:
    return ChargeableItem("data_session", AT, "mobile", user, {"volume": str(megabytes * 1_000_000)})


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine, alice_balance="1000.00")
    engine.load_catalog(parse_document(CONSUMPTION_SMS_CATALOG, source="world.yaml"))
    return engine


def charge_mix(engine: Engine, count: int) -> None:
    """``count`` rounds of one voice call (both), one SMS (consumption) and one data session (billable)."""
    for index in range(count):
        engine.charge(call(seconds=str(61 + index)), ResultOptions(export_chargeable_item=True))
        engine.charge(sms())
        engine.charge(data(index + 1))


def stored(engine: Engine, outputs: tuple[str, ...]) -> dict[int, dict[str, Any]]:
    with UnitOfWork(engine.database, writes=False) as uow:
        rows = uow.connection.execute(sa.select(charged_items).where(charged_items.c.output.in_(outputs))).mappings()
        return {row["id"]: dict(row) for row in rows}


def manifests(directory: Path, kind: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((directory / kind).glob("*.manifest.json"))]


def pyarrow_ids(directory: Path, kind: str, column: str = "charged_item_id") -> list[int]:
    ids: list[int] = []
    for path in sorted((directory / kind).glob("*.parquet")):
        ids.extend(pq.read_table(path).column(column).to_pylist())
    return ids


def assert_files_match_their_manifests(directory: Path, kind: str) -> None:
    for manifest in manifests(directory, kind):
        path = directory / kind / manifest["file_name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]
        reader = f"read_{manifest['format']}"
        rows = duckdb.sql(f"SELECT count(*) FROM {reader}('{path}')").fetchone()
        assert rows is not None and rows[0] == manifest["row_count"]


def test_each_charged_item_lands_in_exactly_one_file_of_each_kind_it_belongs_to(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 5)

    report = world.export_item_files(tmp_path, rows_per_file=2)

    billable, consumption = stored(world, ("billable", "both")), stored(world, ("consumption", "both"))
    billable_ids, consumption_ids = pyarrow_ids(tmp_path, "billable"), pyarrow_ids(tmp_path, "consumption")
    assert sorted(billable_ids) == sorted(billable) and len(set(billable_ids)) == len(billable_ids) == 10
    assert sorted(consumption_ids) == sorted(consumption) and len(set(consumption_ids)) == len(consumption_ids) == 10
    assert pyarrow_ids(tmp_path, "chargeable", "chargeable_item_id") == [1, 2, 3, 4, 5]
    assert report.rows_written == 25 and report.files_written == 5 + 5 + 3
    for kind in ("billable", "consumption", "chargeable"):
        assert_files_match_their_manifests(tmp_path, kind)


def test_duckdb_sums_the_amounts_to_the_last_decimal_of_the_database(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 6)

    world.export_item_files(tmp_path, rows_per_file=4)

    for kind, outputs in (("billable", ("billable", "both")), ("consumption", ("consumption", "both"))):
        expected = exact_sum(row["amount"] for row in stored(world, outputs).values())
        found = duckdb.sql(f"SELECT sum(CAST(amount AS DECIMAL(38, 12))) FROM '{tmp_path}/{kind}/*.parquet'").fetchone()
        assert found is not None and found[0] == expected
        totals = exact_sum(Decimal(manifest["amount_totals"]["EUR"]) for manifest in manifests(tmp_path, kind))
        assert totals == expected


EDGE_AMOUNTS = ("-0.00", "0.1000", "-12.5", "123456789012345678.123456789", "1E+2", "0")


def test_every_column_of_a_file_is_the_stored_item_with_its_exact_text(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 2)
    with UnitOfWork(world.database) as uow:
        # Amounts of every shape a charge or a recharge may store, each with a consumption date to the microsecond.
        operation = {"request_hash": "x", "contract_id": "bob-contract", "subscriber_account_id": "bob", "result": "{}"}
        uow.connection.execute(sa.insert(charging_operations).values(id="edge-op", consumption_date=AT, created_at=AT, **operation))
        for index, amount in enumerate(EDGE_AMOUNTS):
            uow.connection.execute(
                sa.insert(charged_items).values(
                    operation_id="edge-op", contract_id="bob-contract", contract_item_id="main", item_class="sms",
                    charge_plan="mobile", charge="sms", account_role="payer", account_id="bob-postpaid",
                    amount=Decimal(amount), currency="EUR", quantity=Decimal(amount).copy_abs(), quantity_unit=None,
                    output="both", consumption_date=AT + timedelta(microseconds=index * 123_457),
                    recharge_id=f"recharge-{index}" if index % 2 else None, reverses_id=index if index % 2 else None,
                )
            )  # fmt: skip
        uow.commit()

    world.export_item_files(tmp_path, rows_per_file=5)

    with UnitOfWork(world.database, writes=False) as uow:
        accounts = dict(uow.connection.execute(sa.select(charging_operations.c.id, charging_operations.c.subscriber_account_id)).all())
    for kind, outputs in (("billable", ("billable", "both")), ("consumption", ("consumption", "both"))):
        expected = [
            {
                "charged_item_id": item["id"], "operation_id": item["operation_id"],
                "subscriber_account_id": accounts[item["operation_id"]], "contract_id": item["contract_id"],
                "contract_item_id": item["contract_item_id"], "item_class": item["item_class"],
                "charge_plan": item["charge_plan"], "charge": item["charge"], "account_role": item["account_role"],
                "account_id": item["account_id"], "amount": format(item["amount"], "f"), "currency": item["currency"],
                "quantity": format(item["quantity"], "f"), "quantity_unit": item["quantity_unit"],
                "output": item["output"], "consumption_date": item["consumption_date"], "recharge_id": item["recharge_id"],
                "reverses_charged_item_id": item["reverses_id"],
            }
            for _, item in sorted(stored(world, outputs).items())
        ]  # fmt: skip
        found = [row for path in sorted((tmp_path / kind).glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
        assert found == expected
        assert {row["amount"] for row in found} >= {"0.1000", "-12.5", "123456789012345678.123456789", "100", "0"}


def test_files_rotate_at_rows_per_file_in_id_order(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 7)

    world.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE], rows_per_file=3)

    found = manifests(tmp_path, "billable")
    assert [manifest["row_count"] for manifest in found] == [3, 3, 3, 3, 2]
    assert all(earlier["last_id"] < later["first_id"] for earlier, later in itertools.pairwise(found))
    assert not (tmp_path / "consumption").exists()


def test_a_second_export_writes_only_the_items_charged_since(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 2)
    world.export_item_files(tmp_path)

    assert world.export_item_files(tmp_path).files == []
    charge_mix(world, 1)
    report = world.export_item_files(tmp_path)

    assert [(view.kind, view.row_count) for view in report.files] == [
        (ItemFileKind.BILLABLE, 2),
        (ItemFileKind.CONSUMPTION, 2),
        (ItemFileKind.CHARGEABLE, 1),
    ]
    assert sorted(pyarrow_ids(tmp_path, "billable")) == sorted(stored(world, ("billable", "both")))


def test_chargeable_files_hold_the_exported_items_and_name_them_in_the_database(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 2)

    report = world.export_item_files(tmp_path, kinds=[ItemFileKind.CHARGEABLE])

    [view] = report.files
    table = pq.read_table(tmp_path / view.path).to_pylist()
    assert [row["item_class"] for row in table] == ["voice_call", "voice_call"]
    assert json.loads(table[0]["properties"]) == {"destination": "33123", "duration": "61", "roaming": False}
    assert table[0]["consumption_date"] == AT
    with UnitOfWork(world.database, writes=False) as uow:
        names = set(uow.connection.execute(sa.select(exported_items.c.file_name)).scalars())
    assert names == {view.file_name}


def test_csv_files_keep_amounts_exact_and_read_with_duckdb(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 3)

    world.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE], file_format=ItemFileFormat.CSV, rows_per_file=2)

    files = sorted((tmp_path / "billable").glob("*.csv"))
    assert len(files) == 3
    found = duckdb.sql(f"SELECT sum(CAST(amount AS DECIMAL(38, 12))) FROM read_csv('{tmp_path}/billable/*.csv', all_varchar=true)")
    row = found.fetchone()
    assert row is not None and row[0] == exact_sum(item["amount"] for item in stored(world, ("billable", "both")).values())
    assert_files_match_their_manifests(tmp_path, "billable")


def test_an_export_interrupted_after_claiming_rows_is_finished_by_the_next_one(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 3)
    request = ExportRequest(tmp_path, (ItemFileKind.BILLABLE,), rows_per_file=4)
    # The first export stops right after step 1: the file is recorded and its rows claimed, nothing is written.
    claimed = claim_file(world.database, ItemFileKind.BILLABLE, request, up_to_id=10**9, clock=world.now)
    assert claimed is not None and world.item_file(claimed).state == "writing"

    report = world.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE], rows_per_file=4)

    # The interrupted file is written first, with the rows it claimed; the rest goes into a new file.
    assert [view.row_count for view in report.files] == [4, 2] and report.files[0].id == claimed
    ids = pyarrow_ids(tmp_path, "billable")
    assert sorted(ids) == sorted(stored(world, ("billable", "both"))) and len(set(ids)) == len(ids)


def test_an_export_that_failed_after_writing_the_file_writes_the_same_bytes_again(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 2)
    # A folder in the manifest's place makes the export fail after the data file is in place, before completion.
    blocker = tmp_path / "billable" / "_billable-0000000001.manifest.json"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")

    with pytest.raises(IllegalSystemStateError) as failure:
        world.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE])
    assert failure.value.code == "item_file_could_not_be_written"
    first_bytes = (tmp_path / "billable" / "billable-0000000001.parquet").read_bytes()
    assert world.item_file(1).state == "writing"
    (blocker / "keep").unlink()
    blocker.rmdir()
    (tmp_path / "billable" / ".billable-0000000001.parquet.0123.tmp").write_text("left by a crash")

    report = world.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE])

    [view] = report.files
    assert view.id == 1 and view.state == "complete" and view.row_count == 4
    assert view.sha256 == hashlib.sha256(first_bytes).hexdigest()
    names = sorted(path.name for path in (tmp_path / "billable").iterdir())
    assert names == ["_billable-0000000001.manifest.json", "billable-0000000001.parquet"]


@pytest.mark.parametrize("rows_per_file", [pytest.param(0, id="zero"), pytest.param(ITEM_FILE_ROWS_MAX + 1, id="past-the-bound")])
def test_rows_per_file_outside_its_bounds_is_refused(world: Engine, tmp_path: Path, rows_per_file: int) -> None:
    with pytest.raises(InvalidError) as refused:
        world.export_item_files(tmp_path, rows_per_file=rows_per_file)
    assert refused.value.code == "limit_exceeded"


def test_the_index_lists_files_by_kind_and_reads_one(world: Engine, tmp_path: Path) -> None:
    charge_mix(world, 2)
    world.export_item_files(tmp_path, rows_per_file=3)

    consumption = world.item_files(kind=ItemFileKind.CONSUMPTION)

    assert [view.row_count for view in consumption] == [3, 1]
    assert world.item_file(consumption[0].id) == consumption[0]
    every = world.item_files()
    assert world.item_files(limit=2, after_id=every[0].id) == every[1:3]


# ---- PostgreSQL: concurrency ---------------------------------------------------------------------


@pytest.fixture
def postgres_world(postgres_url: str) -> Iterator[str]:
    with Engine(postgres_url, clock=FixedClock(), new_id=SequentialIds()) as engine:
        build_world(engine, alice_balance="100000.00")
        engine.load_catalog(parse_document(CONSUMPTION_SMS_CATALOG, source="world.yaml"))
        charge_mix(engine, 40)
    yield postgres_url


@pytest.mark.postgres
def test_two_concurrent_exports_on_postgresql_never_put_an_item_in_two_files(postgres_world: str, tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    faults: list[BaseException] = []
    reports: list[ExportReport] = []

    def export(name: str) -> None:
        with Engine(postgres_world, create_schema=False) as engine:
            barrier.wait()
            try:
                reports.append(engine.export_item_files(tmp_path, rows_per_file=3))
            except BaseException as error:
                faults.append(error)

    threads = [threading.Thread(target=export, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert faults == []
    # Each file is written by one of the two: together they wrote every row once.
    assert sum(report.rows_written for report in reports) == 80 + 80 + 40
    with Engine(postgres_world, create_schema=False) as engine:
        for kind, outputs in (("billable", ("billable", "both")), ("consumption", ("consumption", "both"))):
            ids = pyarrow_ids(tmp_path, kind)
            assert len(ids) == len(set(ids)) and sorted(ids) == sorted(stored(engine, outputs))
            assert all(view.state == "complete" for view in engine.item_files(kind=ItemFileKind(kind), limit=1000))
        chargeable = pyarrow_ids(tmp_path, "chargeable", "chargeable_item_id")
        assert sorted(chargeable) == list(range(1, 41))
        for kind in ("billable", "consumption", "chargeable"):
            assert_files_match_their_manifests(tmp_path, kind)


@pytest.mark.postgres
def test_an_item_whose_lower_id_commits_late_still_lands_in_a_later_file(postgres_world: str, tmp_path: Path) -> None:
    with Engine(postgres_world, create_schema=False, clock=FixedClock(), new_id=SequentialIds("late")) as engine:
        engine.export_item_files(tmp_path)
        late = engine.database.connect()
        transaction = late.begin()
        # A charge still in flight holds a lower id than the one committed after it.
        late.execute(
            sa.insert(charging_operations).values(
                id="late-op",
                request_hash="x",
                contract_id="bob-contract",
                subscriber_account_id="bob",
                consumption_date=AT,
                created_at=AT,
                result="{}",
            )
        )
        late_id = late.execute(
            sa.insert(charged_items)
            .values(
                operation_id="late-op",
                contract_id="bob-contract",
                contract_item_id="main",
                item_class="sms",
                charge_plan="mobile",
                charge="sms",
                account_role="payer",
                account_id="bob-postpaid",
                amount=Decimal("0.10"),
                currency="EUR",
                quantity=Decimal(1),
                quantity_unit=None,
                output="billable",
                consumption_date=AT + timedelta(seconds=1),
            )
            .returning(charged_items.c.id)
        ).scalar_one()
        engine.charge(data(1))
        first = engine.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE])
        transaction.commit()
        late.close()
        second = engine.export_item_files(tmp_path, kinds=[ItemFileKind.BILLABLE])

    assert [view.first_id for view in first.files] == [view.last_id for view in first.files] != [late_id]
    assert [(view.first_id, view.last_id) for view in second.files] == [(late_id, late_id)]


# ---- a process killed at each step of an export ---------------------------------------------------

CRASHING_EXPORT = """
import os, sys
from pathlib import Path

import kopek.export.run as run
from kopek import Engine
from kopek.store.item_file_store import ItemFileStore

url, directory, point = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
real_replace = os.replace


def die(*_args, **_kwargs):
    os._exit(3)


def replace(source, target):
    if str(target).endswith(point):
        die()
    real_replace(source, target)


if point == "after-claim":
    run.write_file = die
elif point == "before-complete":
    ItemFileStore.complete = die
else:
    os.replace = replace
with Engine(url, create_schema=False) as engine:
    engine.export_item_files(directory, rows_per_file=4)
"""


KILLED_SESSION_END_WAIT = "60s"
"""How long a test waits for PostgreSQL to end the session of a killed process (it takes milliseconds)."""


def until_the_killed_export_is_over(engine: Engine) -> None:
    """Wait until PostgreSQL has ended the session of the killed export. It does so once it reads the closed
    connection, shortly after the process is gone but not at once; until then that session still locks the file it
    was writing, and an export leaves a file another export holds to the next run. SQLite's locks go with the process."""
    if engine.database.dialect.name != "postgresql":
        return
    with engine.database.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{KILLED_SESSION_END_WAIT}'")
        connection.execute(sa.select(item_files.c.id).where(item_files.c.state == WRITING).with_for_update())


@pytest.mark.parametrize(
    "point",
    [
        pytest.param("after-claim", id="after-claiming-rows"),
        pytest.param(".parquet", id="before-renaming-the-data-file"),
        pytest.param(".manifest.json", id="before-renaming-the-manifest"),
        pytest.param("before-complete", id="before-marking-complete"),
    ],
)
def test_an_export_killed_at_any_step_neither_loses_nor_doubles_an_item(world: Engine, tmp_path: Path, point: str) -> None:
    charge_mix(world, 3)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_EXPORT, world.url, str(tmp_path), point], capture_output=True, text=True, check=False
    )
    assert crashed.returncode == 3, crashed.stderr
    until_the_killed_export_is_over(world)

    world.export_item_files(tmp_path, rows_per_file=4)

    for kind, outputs in (("billable", ("billable", "both")), ("consumption", ("consumption", "both"))):
        ids = pyarrow_ids(tmp_path, kind)
        assert sorted(ids) == sorted(stored(world, outputs)) and len(set(ids)) == len(ids)
        assert_files_match_their_manifests(tmp_path, kind)
    assert pyarrow_ids(tmp_path, "chargeable", "chargeable_item_id") == [1, 2, 3]
    assert all(view.state == "complete" for view in world.item_files())
    assert list(tmp_path.rglob(".*.tmp")) == []


NESTED_LOOP_RESCANS = (
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL enable_sort = off",
    "SET LOCAL enable_hashagg = off",
    "SET LOCAL enable_material = off",
    "SET LOCAL enable_memoize = off",
)
"""Planner settings under which PostgreSQL runs a ``LIMIT ... FOR UPDATE SKIP LOCKED`` subquery of ``id IN (...)`` again
for each row it updates (a plan it may also choose on its own, from a table's statistics)."""


@pytest.mark.postgres
@pytest.mark.parametrize("any_url", ["postgres"], indirect=True)
def test_a_claim_takes_at_most_its_limit_whatever_the_plan(world: Engine) -> None:
    charge_mix(world, 5)

    for kind, limit in ((ItemFileKind.BILLABLE, 2), (ItemFileKind.CHARGEABLE, 3)):
        with UnitOfWork(world.database) as uow:
            for setting in NESTED_LOOP_RESCANS:
                uow.connection.exec_driver_sql(setting)
            file_id = uow.item_files.insert_file(kind=kind.value, file_format="parquet", file_name=f"{kind.value}-claim", at=AT)
            up_to_id = uow.item_files.highest_item_id(kind.value)
            if kind is ItemFileKind.CHARGEABLE:
                claimed = uow.item_files.claim_chargeable_items(file_id, f"{kind.value}-claim", up_to_id=up_to_id, limit=limit)
            else:
                claimed = uow.item_files.claim_charged_items(kind.value, file_id, up_to_id=up_to_id, limit=limit)
            uow.commit()
        assert claimed[0] == limit, kind
        table, column = (
            (exported_items, exported_items.c.file_name)
            if kind is ItemFileKind.CHARGEABLE
            else (charged_items, charged_items.c.billable_file_id)
        )
        with world.database.connect() as connection:
            marked = connection.execute(sa.select(sa.func.count()).select_from(table).where(column.is_not(None))).scalar_one()
        assert marked == limit, kind

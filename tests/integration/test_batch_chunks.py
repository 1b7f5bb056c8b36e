"""A rating job posts the balance effect of each chunk as one account operation per account, naming the chunk; the
chunk's CDRs and charged items name it too, so a balance leads to the CDRs behind it, and the ledger still adds up.

The world and CDRs are those of tests/integration/test_batch_workers.py (prepaid and postpaid accounts, two contracts
sharing a payer, some accounts running dry, a user without access).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.admin.ledger import DifferenceKind
from kopek.batch.rating_jobs import RatingMode, RatingPath
from kopek.store.cdr_store import ChargingPlace, cdr_states
from kopek.store.schema import account_operations, accounts, cdrs, charged_items, rating_job_partitions
from kopek.store.uow import UnitOfWork
from tests.integration.test_batch_workers import START, build, fill

POSTINGS = ("debit", "accumulation")


def rows(engine: Engine, table: sa.Table) -> list[Any]:
    """The rows of ``table`` by id; of ``cdrs``, each CDR with its state (:func:`cdr_states`)."""
    query = cdr_states().select() if table is cdrs else sa.select(table)
    with engine.database.connect() as connection:
        return list(connection.execute(query.order_by(table.c.id)))


def rated(engine: Engine, path: RatingPath, mode: RatingMode = RatingMode.DAY_MOST) -> str:
    build(engine)
    fill(engine, 90)
    job_id = engine.start_rating_job(mode)
    engine.run_rating_job(job_id, path=path, chunk_cdrs=10)
    return job_id


@pytest.mark.parametrize("path", [RatingPath.AUTO, RatingPath.ROW])
def test_a_chunk_posts_one_account_operation_per_account_that_names_it(engine: Engine, path: RatingPath) -> None:
    job_id = rated(engine, path)
    postings = [row for row in rows(engine, account_operations) if row.kind in POSTINGS]
    items = rows(engine, charged_items)
    charged = [row for row in rows(engine, cdrs) if row.status == "charged"]

    assert charged and postings
    assert all(row.operation_id is None and row.chunk_id.startswith(f"{job_id}/") for row in postings)
    pairs = [(row.chunk_id, row.account_id) for row in postings]
    assert len(pairs) == len(set(pairs)), "one account operation per account per chunk"
    assert len({row.chunk_id for row in postings}) > 1, "the job ran several chunks"
    # Each charged CDR names its chunk, and its charged items name the same one.
    chunk_of_operation = {row.operation_id: row.chunk_id for row in charged}
    assert all(row.chunk_id is not None for row in charged)
    assert {row.operation_id: row.chunk_id for row in items} == chunk_of_operation
    # Each account operation posts what the chunk's charged items on that account add up to, in the balance's terms.
    charged_sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for item in items:
        if item.amount != 0:
            charged_sums[(item.chunk_id, item.account_id)] += item.amount
    assert {pair: row.amount for pair, row in zip(pairs, postings, strict=True)} == {
        pair: (-total if pair[1] != "bob-postpaid" else total) for pair, total in charged_sums.items()
    }
    # The last account operation of each account holds its balance.
    last = {row.account_id: row.balance_after for row in postings}
    assert all(engine.account(account_id).balance == balance for account_id, balance in last.items())
    assert engine.verify_ledger().consistent


@pytest.mark.parametrize("path", [RatingPath.AUTO, RatingPath.ROW])
def test_an_account_operation_leads_to_the_cdrs_of_its_chunk(engine: Engine, path: RatingPath) -> None:
    rated(engine, path, RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL)
    operation = next(record for record in engine.account_operations("alice-prepaid") if record.kind == "debit")
    assert operation.operation_id is None
    assert operation.chunk_id is not None

    listed = engine.cdrs(chunk_id=operation.chunk_id, limit=1000)

    expected = sorted(row.id for row in rows(engine, cdrs) if row.chunk_id == operation.chunk_id)
    assert [view.id for view in listed] == expected
    assert all(view.chunk_id == operation.chunk_id for view in listed)
    assert "alice-contract" in {row.contract_id for row in rows(engine, cdrs) if row.chunk_id == operation.chunk_id}
    # Every CDR the job handled is in exactly one chunk, the failed and skipped ones too.
    assert all(row.chunk_id is not None for row in rows(engine, cdrs))


def test_the_ledger_finds_a_chunk_posted_for_another_amount(engine: Engine) -> None:
    rated(engine, RatingPath.AUTO)
    posting = next(row for row in rows(engine, account_operations) if row.kind == "accumulation")
    moved = engine.account(posting.account_id).balance + Decimal("0.01")
    with engine.database.begin() as connection:
        connection.execute(
            sa.update(account_operations).where(account_operations.c.id == posting.id).values(amount=posting.amount + Decimal("0.01"))
        )
        # The balance moved with it, so only the posting differs from its chunk's charged items.
        connection.execute(sa.update(accounts).where(accounts.c.id == posting.account_id).values(balance=moved))

    report = engine.verify_ledger()

    assert [(difference.kind, difference.subject) for difference in report.differences] == [
        (DifferenceKind.POSTING_DIFFERS, f"{posting.chunk_id}/{posting.account_id}")
    ]
    assert (report.differences[0].expected, report.differences[0].found) == (posting.amount, posting.amount + Decimal("0.01"))


def test_a_partitions_next_chunk_is_read_from_the_place_where_the_last_one_stopped(engine: Engine) -> None:
    # A vectorized chunk gives every CDR it read an outcome, so the next chunk of its partition reads only the CDRs after
    # the last one, in consumption order; two CDRs at one instant come in the order of their ids.
    build(engine)
    minutes = {"c-1": 1, "c-3": 2, "c-2": 2, "c-4": 3}
    rows = [
        (number, {"id": cdr_id, "item_class": "sms", "consumption_date": (START + timedelta(minutes=minute)).isoformat(),
                  "service_id": "mobile", "user_id": "alice-msisdn", "properties": {"destination": "33123"}})
        for number, (cdr_id, minute) in enumerate(minutes.items(), start=1)
    ]  # fmt: skip
    engine.import_cdrs(rows, strict=True)
    job_id = engine.start_rating_job(RatingMode.DAY_MOST)
    partition = sa.select(rating_job_partitions.c.partition_key).where(rating_job_partitions.c.job_id == job_id)
    place = ChargingPlace(START + timedelta(minutes=2), "c-2")
    with UnitOfWork(engine.database, writes=False) as uow:
        (key,) = uow.connection.execute(partition).scalars()
        every = uow.cdrs.pending_columns(job_id, [key], contract_first=False, limit=10)
        after = uow.cdrs.pending_columns(job_id, [key], contract_first=False, limit=10, after=place)

    assert every["id"].to_list() == ["c-1", "c-2", "c-3", "c-4"]
    assert after["id"].to_list() == ["c-3", "c-4"]

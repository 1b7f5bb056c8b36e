"""Batches of prebuilt statements (:mod:`kopek.store.driver_batch`): each statement's own rows, batch after batch on one
connection, and a failed batch that leaves the next one whole."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kopek.store.database import create_database_engine
from kopek.store.driver_batch import for_dialect
from kopek.store.uow import UnitOfWork

NUMBERS = for_dialect("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :upto) SELECT x FROM n")
TEXT = for_dialect("SELECT :word AS word")
NOTHING = for_dialect("SELECT 1 AS one WHERE 1 = 0")
FAULT = for_dialect("SELECT no_such_column FROM (SELECT 1 AS one) AS t")


def _one_connection(any_url: str) -> sa.Engine:
    """An engine of one pooled connection, so that every unit of work uses the same one."""
    if any_url.startswith("sqlite"):
        return sa.create_engine(any_url, poolclass=sa.pool.StaticPool)
    return sa.create_engine(create_database_engine(any_url).url, pool_size=1, max_overflow=0)


def test_each_statement_reads_its_own_rows_batch_after_batch_on_one_connection(any_url: str) -> None:
    engine = _one_connection(any_url)
    try:
        seen = []
        for upto, word in ((3, "first"), (1, "second"), (5, "third")):
            with UnitOfWork(engine, begin_with_first_batch=True) as uow:
                batch = uow.batch()
                numbers = batch.add(NUMBERS, {"upto": upto}, returns_rows=True)
                text = batch.add(TEXT, {"word": word}, returns_rows=True)
                nothing = batch.add(NOTHING, {}, returns_rows=True)
                batch.run()
                seen.append(([row[0] for row in numbers.rows], text.rows, nothing.rows))
    finally:
        engine.dispose()

    assert seen == [
        ([1, 2, 3], [("first",)], []),
        ([1], [("second",)], []),
        ([1, 2, 3, 4, 5], [("third",)], []),
    ]


def test_a_failed_batch_leaves_the_next_batch_on_its_connection_whole(any_url: str) -> None:
    engine = _one_connection(any_url)
    try:
        with UnitOfWork(engine, begin_with_first_batch=True) as uow:
            batch = uow.batch()
            batch.add(TEXT, {"word": "before"}, returns_rows=True)
            batch.add(FAULT, {}, returns_rows=True)
            with pytest.raises(sa.exc.DBAPIError):
                batch.run()
        with UnitOfWork(engine, begin_with_first_batch=True) as uow:
            batch = uow.batch()
            text = batch.add(TEXT, {"word": "after"}, returns_rows=True)
            numbers = batch.add(NUMBERS, {"upto": 2}, returns_rows=True)
            batch.run()
            uow.commit_with(uow.last_batch())
    finally:
        engine.dispose()

    assert (text.rows, numbers.rows) == ([("after",)], [(1,), (2,)])

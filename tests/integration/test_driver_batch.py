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
            with UnitOfWork(engine, commit_with_last_batch=True) as uow:
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
        with UnitOfWork(engine, commit_with_last_batch=True) as uow:
            batch = uow.batch()
            batch.add(TEXT, {"word": "before"}, returns_rows=True)
            batch.add(FAULT, {}, returns_rows=True)
            with pytest.raises(sa.exc.DBAPIError):
                batch.run()
        with UnitOfWork(engine, commit_with_last_batch=True) as uow:
            batch = uow.batch()
            text = batch.add(TEXT, {"word": "after"}, returns_rows=True)
            numbers = batch.add(NUMBERS, {"upto": 2}, returns_rows=True)
            batch.run()
            uow.commit_with(uow.batch())
    finally:
        engine.dispose()

    assert (text.rows, numbers.rows) == ([("after",)], [(1,), (2,)])


REPEATED = for_dialect("SELECT :word AS first, :word AS second, '100%' AS literal")
ADD = for_dialect("INSERT INTO batch_rows (x) VALUES (:x)")


def test_a_parameter_named_twice_and_a_literal_percent_sign(any_url: str) -> None:
    engine = _one_connection(any_url)
    try:
        with UnitOfWork(engine, writes=False) as uow:
            batch = uow.batch()
            repeated = batch.add(REPEATED, {"word": "twice"}, returns_rows=True)
            batch.run()
    finally:
        engine.dispose()

    assert repeated.rows == [("twice", "twice", "100%")]


def test_a_batch_is_part_of_its_unit_of_works_transaction(any_url: str) -> None:
    """Begun by the driver's usual BEGIN when the unit of work has not begun on the server: left without a commit, the
    batch's writes are undone; committed, they stay."""
    engine = _one_connection(any_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TEMPORARY TABLE batch_rows (x integer)")
        with UnitOfWork(engine) as uow:
            batch = uow.batch()
            batch.add_many(ADD, [{"x": 1}, {"x": 2}])
            batch.run()
        with UnitOfWork(engine) as uow:
            batch = uow.batch()
            batch.add(ADD, {"x": 3})
            batch.run()
            uow.commit()
        with engine.connect() as connection:
            kept = [row[0] for row in connection.exec_driver_sql("SELECT x FROM batch_rows ORDER BY x")]
    finally:
        engine.dispose()

    assert kept == [3]


def _word_committed(engine: sa.Engine, word: str) -> list[tuple[object, ...]]:
    """``word`` read back by a batch of its own unit of work, committed with its last batch."""
    with UnitOfWork(engine, commit_with_last_batch=True) as uow:
        batch = uow.batch()
        text = batch.add(TEXT, {"word": word}, returns_rows=True)
        batch.run()
        uow.commit_with(uow.batch())
    return text.rows


@pytest.mark.postgres
def test_batches_prepare_their_statements_again_when_psycopg_deallocates_every_statement(postgres_url: str) -> None:
    """psycopg deallocates every prepared statement of its session (``DEALLOCATE ALL``) when it forgets its own, after a
    ROLLBACK once it has prepared some: the batches' statements, prepared beside psycopg's, are prepared again."""
    engine = _one_connection(postgres_url)
    try:
        seen = []
        for word in ("first", "second"):
            with UnitOfWork(engine, commit_with_last_batch=True) as uow:
                batch = uow.batch()
                text = batch.add(TEXT, {"word": word}, returns_rows=True)
                batch.run()
                prepared = uow.connection.exec_driver_sql("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'kopek_%%'")
                seen.append((text.rows, sorted(prepared)))
                uow.commit_with(uow.batch())
        assert [rows for rows, _ in seen] == [[("first",)], [("second",)]]
        assert seen[0][1] == seen[1][1], "the second batch runs the statements the first prepared"
        assert "SELECT $1 AS word" in [statement for _, statement in seen[0][1]]
        with engine.connect() as connection:
            for _ in range(6):  # psycopg prepares a statement it has run five times
                connection.exec_driver_sql("SELECT 1")
            connection.rollback()
            assert connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar() == 0
            connection.rollback()
        after = _word_committed(engine, "after")
    finally:
        engine.dispose()

    assert after == [("after",)]


@pytest.mark.postgres
def test_a_batch_whose_statement_the_session_lost_fails_once_and_the_next_prepares_it_again(postgres_url: str) -> None:
    engine = _one_connection(postgres_url)
    try:
        _word_committed(engine, "first")
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.pgconn.exec_(b"DEALLOCATE ALL")  # behind psycopg's back: neither it nor the batches know
        with UnitOfWork(engine, commit_with_last_batch=True) as uow:
            batch = uow.batch()
            batch.add(TEXT, {"word": "lost"}, returns_rows=True)
            with pytest.raises(sa.exc.DBAPIError, match="does not exist"):
                batch.run()
        again = _word_committed(engine, "again")
    finally:
        engine.dispose()

    assert again == [("again",)]


WIDE = for_dialect("INSERT INTO batch_wide (x, words) VALUES (:x, :words)")
WIDE_BACK = for_dialect("SELECT x, words FROM batch_wide ORDER BY x")


def test_a_batch_larger_than_the_connections_buffers_is_sent_and_read_whole(any_url: str) -> None:
    """Megabytes each way in one batch: sent while the server's answers are read, so neither side waits on the other."""
    engine = _one_connection(any_url)
    words = "w" * 2_000
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TEMPORARY TABLE batch_wide (x integer, words text)")
        with UnitOfWork(engine) as uow:
            batch = uow.batch()
            batch.add_many(WIDE, [{"x": x, "words": words} for x in range(5_000)])
            back = batch.add(WIDE_BACK, {}, returns_rows=True)
            again = batch.add(WIDE_BACK, {}, returns_rows=True)
            batch.run()
            uow.commit()
    finally:
        engine.dispose()

    assert back.rows == again.rows == [(x, words) for x in range(5_000)]

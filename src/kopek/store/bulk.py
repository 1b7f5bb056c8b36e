"""Many rows in one statement, bound by the columns' own types but without per-row statement work.

``connection.execute(insert(table), rows)`` builds and processes parameters row by row
in SQLAlchemy, which costs more than the database's own insert for the narrow rows of
charging. Here each column's bind processor (the same conversion SQLAlchemy would
apply: exact decimal text on SQLite, UTC instants) is looked up once and the driver
gets plain tuples: one ``executemany``, or on PostgreSQL from :data:`COPY_FROM_ROWS`
rows on a ``COPY``. Polars frames go in and out by ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import sqlalchemy as sa

from kopek.store.column_values import binder

COPY_FROM_ROWS = 64
"""From this many rows :func:`insert_many` copies them on PostgreSQL: ``COPY`` costs one more round trip than a
pipelined ``executemany`` but far less work per row, on the server and in the driver."""


def insert_many(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, column names of ``table``) with one ``executemany``, or on PostgreSQL
    from :data:`COPY_FROM_ROWS` rows on, one ``COPY``."""
    if not rows:
        return
    columns = [table.c[name] for name in rows[0]]
    binders = [binder(column, connection.dialect) for column in columns]
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(column.name) for column in columns)
    marker = _marker(connection)
    values = ", ".join([marker] * len(columns))
    statement = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({values})"  # noqa: S608 - names from the table, values bound
    keys = [column.name for column in columns]
    if connection.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        copy_statement = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
        with driver_cursor(connection, copy_statement) as cursor, cursor.copy(copy_statement) as copy:
            for row in rows:
                copy.write_row(_bound(binders, keys, row))
        return
    connection.exec_driver_sql(statement, [tuple(_bound(binders, keys, row)) for row in rows])


def update_many(
    connection: sa.Connection, table: sa.Table, key: str | Sequence[str], rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """Set ``columns`` of the row whose ``key`` column(s) equal each row's values there (missing values: null)."""
    if not rows:
        return
    keys_of = [key] if isinstance(key, str) else list(key)
    targets = [table.c[name] for name in columns]
    binders = [binder(column, connection.dialect) for column in (*targets, *(table.c[name] for name in keys_of))]
    preparer = connection.dialect.identifier_preparer
    marker = _marker(connection)
    assignments = ", ".join(f"{preparer.quote(column.name)} = {marker}" for column in targets)
    matches = " AND ".join(f"{preparer.quote(name)} = {marker}" for name in keys_of)
    statement = f"UPDATE {preparer.format_table(table)} SET {assignments} WHERE {matches}"  # noqa: S608 - names from the table, values bound
    keys = [*columns, *keys_of]
    connection.exec_driver_sql(statement, [tuple(_bound(binders, keys, row)) for row in rows])


def _bound(binders: list[Callable[[Any], Any] | None], keys: list[str], row: Mapping[str, Any]) -> list[Any]:
    values = []
    for convert, key in zip(binders, keys, strict=True):
        value = row.get(key)
        values.append(convert(value) if convert is not None and value is not None else value)
    return values


def _marker(connection: sa.Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def insert_frame(connection: sa.Connection, table: sa.TableClause, frame: pl.DataFrame) -> None:
    """Insert a Polars frame whose columns are named after ``table``'s and hold what the database stores
    (text for exact decimals and, on SQLite, for instants): ``COPY`` on PostgreSQL, one ``executemany`` on SQLite."""
    if frame.is_empty():
        return
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in frame.columns)
    target = preparer.format_table(table)
    if connection.dialect.name == "postgresql":
        copy_statement = f"COPY {target} ({names}) FROM STDIN (FORMAT csv)"
        with driver_cursor(connection, copy_statement) as cursor, cursor.copy(copy_statement) as copy:
            copy.write(frame.write_csv(include_header=False))
        return
    values = ", ".join([_marker(connection)] * frame.width)
    statement = f"INSERT INTO {target} ({names}) VALUES ({values})"  # noqa: S608 - names from the table, values bound
    connection.exec_driver_sql(statement, frame.rows())


def select_frame(connection: sa.Connection, query: sa.Select[Any], schema: Mapping[str, pl.DataType | type[pl.DataType]]) -> pl.DataFrame:
    """The rows of ``query`` as a Polars frame of ``schema`` (its columns in the query's order, values as the driver
    gives them): ``COPY (query) TO STDOUT`` as CSV on PostgreSQL, read by Polars; on SQLite the driver's tuples,
    fetched at once."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    if connection.dialect.name == "postgresql":
        written = bytearray()
        copy_statement = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
        with driver_cursor(connection, copy_statement) as cursor, cursor.copy(copy_statement, compiled.params) as copy:
            for data in copy:
                written += data
        if not written:
            return pl.DataFrame(schema=dict(schema))
        return pl.read_csv(bytes(written), has_header=False, new_columns=list(schema), schema=dict(schema))
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        rows = cursor.execute(str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]).fetchall()
    finally:
        cursor.close()
    return pl.DataFrame(rows, schema=dict(schema), orient="row")


def instant_read(connection: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An instant column (``UtcDateTime``) as :func:`select_frame` should read it: microseconds since the epoch on
    PostgreSQL (exact, whatever the session's time zone), the stored text on SQLite; :func:`instant_column` reads it
    back. Labelled with the column's name."""
    if connection.dialect.name != "postgresql":
        return column
    return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger).label(column.key)


def instant_column(connection: sa.Connection, column: pl.Expr) -> pl.Expr:
    """An instant read by :func:`instant_read` as a Polars instant in UTC, to the microsecond."""
    if connection.dialect.name == "postgresql":
        return column.cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
    # UtcDateTime writes SQLite instants with six fraction digits, without offset, in UTC.
    return column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.6f", time_unit="us", time_zone="UTC")


@contextmanager
def driver_cursor(connection: sa.Connection, statement: str) -> Iterator[Any]:
    """A cursor of the driver under ``connection``, for what SQLAlchemy does not do (``COPY``, pipelines, statements
    never prepared), closed on leaving. A failure of the driver is raised as SQLAlchemy raises it everywhere else
    (``IntegrityError``, ``OperationalError``, ... naming ``statement``), and a lost connection is invalidated, so
    callers handle both ways alike."""
    driver = connection.connection.driver_connection
    assert driver is not None, "an open connection has a driver connection"
    try:
        with driver.cursor() as cursor:
            yield cursor
    except connection.dialect.loaded_dbapi.Error as error:
        raise driver_error(connection, statement, error) from error


def driver_error(connection: sa.Connection, statement: str, error: Exception) -> sa.exc.DBAPIError:
    """``error``, raised by the driver under ``connection`` for ``statement``, as SQLAlchemy would raise it; a lost
    connection is invalidated."""
    lost = connection.dialect.is_disconnect(error, connection.connection.driver_connection, None)  # type: ignore[arg-type]
    if lost:
        connection.invalidate(error)
    wrapped = sa.exc.DBAPIError.instance(statement, None, error, connection.dialect.loaded_dbapi.Error, connection_invalidated=lost)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped


def update_frame(connection: sa.Connection, table: sa.Table, key: str, frame: pl.DataFrame) -> None:
    """Set the other columns of ``frame`` on the rows of ``table`` whose ``key`` matches (values stored as they are)."""
    if frame.is_empty():
        return
    preparer = connection.dialect.identifier_preparer
    target = preparer.format_table(table)
    columns = [name for name in frame.columns if name != key]
    if connection.dialect.name == "postgresql":
        scratch = "kopek_bulk_update"
        definitions = ", ".join(f"{preparer.quote(name)} text" for name in frame.columns)
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ({definitions}) ON COMMIT DROP")
        connection.exec_driver_sql(f"TRUNCATE {scratch}")
        insert_frame(connection, sa.table(scratch), frame)
        assignments = ", ".join(f"{preparer.quote(name)} = s.{preparer.quote(name)}" for name in columns)
        connection.exec_driver_sql(
            f"UPDATE {target} SET {assignments} FROM {scratch} s WHERE {target}.{preparer.quote(key)} = s.{preparer.quote(key)}"  # noqa: S608
        )
        connection.exec_driver_sql(f"DROP TABLE {scratch}")
        return
    assignments = ", ".join(f"{preparer.quote(name)} = ?" for name in columns)
    statement = f"UPDATE {target} SET {assignments} WHERE {preparer.quote(key)} = ?"  # noqa: S608 - names from the table, values bound
    connection.exec_driver_sql(statement, frame.select(*columns, key).rows())

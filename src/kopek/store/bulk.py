"""Many rows in one ``executemany``, bound by the columns' own types but without per-row statement work.

``connection.execute(insert(table), rows)`` builds and processes parameters row by row
in SQLAlchemy, which costs more than the database's own insert for the narrow rows of
charging. Here each column's bind processor (the same conversion SQLAlchemy would
apply: exact decimal text on SQLite, UTC instants) is looked up once and the driver
gets plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa


def insert_many(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, column names of ``table``) with one ``executemany``."""
    if not rows:
        return
    columns = [table.c[name] for name in rows[0]]
    binders = [_binder(column, connection) for column in columns]
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(column.name) for column in columns)
    marker = _marker(connection)
    values = ", ".join([marker] * len(columns))
    statement = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({values})"  # noqa: S608 - names from the table, values bound
    keys = [column.name for column in columns]
    connection.exec_driver_sql(statement, [tuple(_bound(binders, keys, row)) for row in rows])


def update_many(connection: sa.Connection, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Set ``columns`` of the row whose ``key`` column equals each row's ``key`` value (missing values: null)."""
    if not rows:
        return
    targets = [table.c[name] for name in columns]
    binders = [_binder(column, connection) for column in (*targets, table.c[key])]
    preparer = connection.dialect.identifier_preparer
    marker = _marker(connection)
    assignments = ", ".join(f"{preparer.quote(column.name)} = {marker}" for column in targets)
    statement = f"UPDATE {preparer.format_table(table)} SET {assignments} WHERE {preparer.quote(key)} = {marker}"  # noqa: S608 - names from the table, values bound
    keys = [*columns, key]
    connection.exec_driver_sql(statement, [tuple(_bound(binders, keys, row)) for row in rows])


def _bound(binders: list[Callable[[Any], Any] | None], keys: list[str], row: Mapping[str, Any]) -> list[Any]:
    values = []
    for binder, key in zip(binders, keys, strict=True):
        value = row.get(key)
        values.append(binder(value) if binder is not None and value is not None else value)
    return values


def _marker(connection: sa.Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _binder(column: sa.Column[Any], connection: sa.Connection) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        dialect = connection.dialect
        process = kind.process_bind_param
        return lambda value: process(value, dialect)
    return None

"""Values as a table's columns keep them, for statements sent past SQLAlchemy's own execution.

kopek's column types (:mod:`kopek.store.types`: exact decimals, exact rationals, instants in
UTC) convert each value to what the driver takes and back. The hot paths send their rows
to the driver themselves (:mod:`kopek.store.driver_batch`, :mod:`kopek.store.bulk`); they
convert them here, by the column each value goes to, as SQLAlchemy would: one mechanism
for every store. Every other value passes as the driver takes and gives it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa


@functools.cache
def decorated(table: sa.Table) -> dict[str, sa.types.TypeDecorator[Any]]:
    """The columns of ``table`` whose type is kopek's own (a :class:`~sqlalchemy.types.TypeDecorator`), by name: the
    values :func:`bound_row` and :func:`read_row` convert."""
    return {column.name: column.type for column in table.columns if isinstance(column.type, sa.types.TypeDecorator)}


def bound_row(table: sa.Table, row: Mapping[str, Any], dialect: sa.Dialect) -> dict[str, Any]:
    """``row`` as ``table``'s columns store it (names that are no column of it pass as they are)."""
    kinds = decorated(table)
    bound = {}
    for name, value in row.items():
        kind = kinds.get(name)
        bound[name] = kind.process_bind_param(value, dialect) if kind is not None and value is not None else value
    return bound


def bound_rows(table: sa.Table, rows: Sequence[Mapping[str, Any]], dialect: sa.Dialect) -> list[dict[str, Any]]:
    """:func:`bound_row` of each of ``rows``."""
    return [bound_row(table, row, dialect) for row in rows]


def read_row(table: sa.Table, names: Sequence[str], values: Sequence[Any], dialect: sa.Dialect) -> dict[str, Any]:
    """A row of ``table`` read by the driver (``values`` of the columns ``names``), as SQLAlchemy would give it."""
    kinds = decorated(table)
    found = {}
    for name, value in zip(names, values, strict=True):
        kind = kinds.get(name)
        found[name] = kind.process_result_value(value, dialect) if kind is not None and value is not None else value
    return found


def binder(column: sa.ColumnElement[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """What turns a (non-null) value of ``column`` into what the driver takes; none when it passes as it is."""
    kind = column.type
    if not isinstance(kind, sa.types.TypeDecorator):
        return None
    process = kind.process_bind_param
    return lambda value: process(value, dialect)

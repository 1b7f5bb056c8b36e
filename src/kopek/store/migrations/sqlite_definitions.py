"""Editing a table's stored definition on SQLite, for the revisions that remove or restore a constraint.

SQLite changes a constraint only by copying its table, and a copy of a table that other tables' foreign keys name
cannot replace it inside a migration's transaction while foreign keys are enforced (each dropped row counts a deferred
violation, and the commit fails). SQLite documents a simpler procedure for removing a ``NOT NULL``, ``CHECK`` or
foreign key constraint, which touches no row: the table's definition is edited in the schema table and the schema's
version counted up, so that every connection reads the new definition.
"""

from __future__ import annotations

import re

import sqlalchemy as sa


def edit_sqlite_definition(connection: sa.Connection, table: str, old: str, new: str) -> None:
    """Replace the one match of the pattern ``old`` by ``new`` in the stored definition of ``table``."""
    (definition,) = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).one()
    edited, count = re.subn(old, new, definition)
    assert count == 1, f"{table} is defined as expected: {definition}"
    (version,) = connection.exec_driver_sql("PRAGMA schema_version").one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (edited, table))
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")

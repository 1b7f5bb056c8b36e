"""a CDR's operation keeps no stored result

A rating job wrote with each charged CDR's operation a stored result: its operation id, its process info and the
item as typed, about 480 bytes of JSON in the table's widest rows, which PostgreSQL parsed from each chunk's
``COPY``. What is read back of it is kept elsewhere: a CDR rated again takes its operation id from the operation's
row, and a recharge charges the stored CDR itself (``cdrs``) again. ``result`` becomes nullable, and a CDR's
operation keeps none (docs/batch.md, "What a charged CDR leaves"); every other operation keeps its result.
Operations written before this revision keep the text they hold; nothing reads it.

SQLite changes a column's constraint only by copying its table, and a copy of ``charging_operations`` under
enforced foreign keys (the rows of other tables name its operations) cannot replace the table in the migration's
transaction. SQLite documents a simpler procedure for removing a ``NOT NULL`` constraint, which touches no row: the
table's definition is edited in the schema table and the schema's version counted up. The downgrade puts the
constraint back the same way, after giving every operation without a result an empty one.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

NULLABLE = "result TEXT"
NOT_NULL = "result TEXT NOT NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_definition(NOT_NULL, NULLABLE)
        return
    op.alter_column("charging_operations", "result", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE charging_operations SET result = '{}' WHERE result IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_definition(NULLABLE + ",", NOT_NULL + ",")
        return
    op.alter_column("charging_operations", "result", existing_type=sa.Text(), nullable=False)


def _edit_sqlite_definition(old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the stored definition of ``charging_operations``, as SQLite's procedure for
    removing a constraint does: the schema table made writable for the edit, the schema's version counted up so that
    every connection reads the new definition."""
    connection = op.get_bind()
    (definition,) = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'charging_operations'").one()
    assert definition.count(old) == 1, f"charging_operations is defined as expected: {definition}"
    (version,) = connection.exec_driver_sql("PRAGMA schema_version").one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'charging_operations'", (definition.replace(old, new),)
        )
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")

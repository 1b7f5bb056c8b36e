"""a CDR's operation keeps no stored result

A rating job wrote with each charged CDR's operation a stored result: its operation id, its process info and the
item as typed, about 480 bytes of JSON in the table's widest rows, which PostgreSQL parsed from each chunk's
``COPY``. What is read back of it is kept elsewhere: a CDR rated again takes its operation id from the operation's
row, and a recharge charges the stored CDR itself (``cdrs``) again. ``result`` becomes nullable, and a CDR's
operation keeps none (docs/batch.md, "What a charged CDR leaves"); every other operation keeps its result.
Operations written before this revision keep the text they hold; nothing reads it.

On SQLite the constraint is removed by editing the table's stored definition
(:mod:`kopek.store.migrations.sqlite_definitions`); the downgrade puts it back the same way, after giving every
operation without a result an empty one.

Revision ID: 0032
Revises: 0031
"""

import re

import sqlalchemy as sa
from alembic import op

from kopek.store.migrations.sqlite_definitions import edit_sqlite_definition

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
    edit_sqlite_definition(op.get_bind(), "charging_operations", re.escape(old), new)

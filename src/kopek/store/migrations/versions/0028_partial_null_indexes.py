"""partial indexes of columns most rows leave null

An offline charge or a CDR's operation has no session, an online charge has no CDR, and
only the rows a recharge wrote name it; yet every row was entered in the indexes of
``charging_operations.session_id``, ``charging_operations.cdr_id`` and
``charged_items.recharge_id``. Each now holds only the rows that have a value: the look-ups
by value are the same, and a charge writes fewer index entries.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

INDEXES = (
    ("uq_charging_operations_cdr_id", "charging_operations", "cdr_id", True),
    ("ix_charging_operations_session_id", "charging_operations", "session_id", False),
    ("ix_charged_items_recharge_id", "charged_items", "recharge_id", False),
)


def upgrade() -> None:
    for name, table, column, unique in INDEXES:
        op.drop_index(name, table_name=table)
        present = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], unique=unique, postgresql_where=present, sqlite_where=present)


def downgrade() -> None:
    for name, table, column, unique in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], unique=unique)

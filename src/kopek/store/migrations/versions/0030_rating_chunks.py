"""the chunk of a rating job that charged a CDR, its charged items and its account operations

A rating job posts the balance effect of a chunk as one account operation per account,
which names the chunk instead of a charging operation; the chunk's CDRs and charged items
name it too, so a balance leads to the CDRs behind it (docs/batch.md). Nullable columns
without a foreign key, so adding them rewrites no table.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TABLES = ("cdrs", "charged_items", "account_operations")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("chunk_id", sa.String(80), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("chunk_id")

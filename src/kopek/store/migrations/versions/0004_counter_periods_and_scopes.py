"""counter periods and scopes

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("counters", "shared_counters"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("counters", "shared_counters"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("expires_at")
            batch_op.drop_column("period_start")

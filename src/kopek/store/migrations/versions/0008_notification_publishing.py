"""notification publishing

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True))
    unpublished = sa.text("published_at IS NULL")
    op.create_index("ix_notifications_unpublished", "notifications", ["id"], postgresql_where=unpublished, sqlite_where=unpublished)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("low_balance_threshold", kopek.store.types.ExactDecimal(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("low_balance_threshold")
    op.drop_index("ix_notifications_unpublished", table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("published_at")

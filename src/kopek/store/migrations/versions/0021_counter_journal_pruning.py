"""counter journal pruning

The counter journal is pruned past the retention window of restoration points: its entries
are found by the date they were recorded.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_counter_journal_recorded_at", "counter_journal", ["recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_counter_journal_recorded_at", table_name="counter_journal")

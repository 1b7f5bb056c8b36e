"""activation journal

Each change a fee run makes to an activation, with the activation as it was before: what a
restoration point rebuilds a contract's activations from (docs/recharging.md). The journal
begins now: a restoration point refuses to reach back past fee periods charged before it.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("activation_id", sa.String(length=128), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("effective_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_activation_date", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_journal")),
    )
    op.create_index("ix_activation_journal_contract", "activation_journal", ["contract_id", "effective_at", "id"], unique=False)
    op.create_index("ix_activation_journal_operation", "activation_journal", ["operation_id"], unique=False)
    op.create_index("ix_activation_journal_recorded_at", "activation_journal", ["recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_activation_journal_recorded_at", table_name="activation_journal")
    op.drop_index("ix_activation_journal_operation", table_name="activation_journal")
    op.drop_index("ix_activation_journal_contract", table_name="activation_journal")
    op.drop_table("activation_journal")

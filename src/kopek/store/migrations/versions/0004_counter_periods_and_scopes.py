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
    op.create_table(
        "activation_counters",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("activation_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("value", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id", "activation_id"],
            ["activations.contract_id", "activations.id"],
            name=op.f("fk_activation_counters_contract_id_activations"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "activation_id", "name", name=op.f("pk_activation_counters")),
    )
    for table in ("counters", "shared_counters"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("activation_counters")
    for table in ("counters", "shared_counters"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("expires_at")
            batch_op.drop_column("period_start")

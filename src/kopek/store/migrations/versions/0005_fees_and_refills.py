"""fees and refills

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_applications",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("activation_id", sa.String(length=128), nullable=False),
        sa.Column("fee", sa.String(length=128), nullable=False),
        sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("amount", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("applied_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operation_id"], ["charging_operations.id"], name=op.f("fk_fee_applications_operation_id_charging_operations")
        ),
        sa.PrimaryKeyConstraint("contract_id", "activation_id", "fee", "period_start", name=op.f("pk_fee_applications")),
    )
    op.create_table(
        "refills",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_refills_contract_id_contracts")),
        sa.ForeignKeyConstraint(["operation_id"], ["charging_operations.id"], name=op.f("fk_refills_operation_id_charging_operations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refills")),
    )
    with op.batch_alter_table("refills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refills_contract_id"), ["contract_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refills_contract_id"))
    op.drop_table("refills")
    op.drop_table("fee_applications")

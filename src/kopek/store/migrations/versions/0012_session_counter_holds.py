"""session counter holds and usage dates

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_counter_holds",
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("namespace", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("delta", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["charging_sessions.id"]),
        sa.PrimaryKeyConstraint("session_id", "scope", "namespace", "contract_id", "name"),
    )
    op.create_index("ix_session_counter_holds_counter", "session_counter_holds", ["scope", "namespace", "contract_id", "name"])
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage_resumes_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_column("usage_resumes_at")
    op.drop_index("ix_session_counter_holds_counter", table_name="session_counter_holds")
    op.drop_table("session_counter_holds")

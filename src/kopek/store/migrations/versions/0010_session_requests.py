"""session requests

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_requests",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_session_requests")),
    )
    with op.batch_alter_table("session_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_requests_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_requests_session_id"))
    op.drop_table("session_requests")

"""protocol sessions

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protocol_sessions",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("subscriber", sa.String(length=256), nullable=False),
        sa.Column("notify_uri", sa.String(length=1024), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("protocol", "id", name=op.f("pk_protocol_sessions")),
    )
    op.create_table(
        "protocol_exchanges",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("session", sa.String(length=128), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("protocol", "session", "sequence", name=op.f("pk_protocol_exchanges")),
    )
    op.create_table(
        "protocol_rating_groups",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("session", sa.String(length=128), nullable=False),
        sa.Column("rating_group", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=True),
        sa.Column("final_grant", sa.Boolean(), nullable=False),
        sa.Column("notification_mark", sa.BigInteger(), nullable=True),
        sa.Column("notified_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("protocol", "session", "rating_group", name=op.f("pk_protocol_rating_groups")),
    )
    with op.batch_alter_table("protocol_rating_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_protocol_rating_groups_contract_id"), ["contract_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("protocol_rating_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_protocol_rating_groups_contract_id"))
    op.drop_table("protocol_rating_groups")
    op.drop_table("protocol_exchanges")
    op.drop_table("protocol_sessions")

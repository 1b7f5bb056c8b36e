"""sessions and contract state

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_counters",
        sa.Column("namespace", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("value", kopek.store.types.ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "name", name=op.f("pk_shared_counters")),
    )
    op.create_table(
        "activations",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_activation_date", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_activations_contract_id_contracts")),
        sa.PrimaryKeyConstraint("contract_id", "id", name=op.f("pk_activations")),
    )
    op.create_table(
        "charging_sessions",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("reservation_id", sa.String(length=128), nullable=False),
        sa.Column("subscriber_account_id", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("service_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("item_class", sa.String(length=128), nullable=False),
        sa.Column("quantity_property", sa.String(length=128), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("default_resolution", sa.String(length=16), nullable=False),
        sa.Column("ttl_ms", sa.Integer(), nullable=False),
        sa.Column("started_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("consumption_date", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("granted_quantity", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("used_quantity", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("charged_amount", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("impacts", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_charging_sessions_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_sessions")),
    )
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charging_sessions_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charging_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_charging_sessions_reservation_id"), ["reservation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charging_sessions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_charging_sessions_subscriber_account_id"), ["subscriber_account_id"], unique=False)

    op.create_table(
        "reservations",
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("amount", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_reservations_account_id_accounts")),
        sa.ForeignKeyConstraint(["session_id"], ["charging_sessions.id"], name=op.f("fk_reservations_session_id_charging_sessions")),
        sa.PrimaryKeyConstraint("session_id", "account_id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("charging_operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=128), nullable=True))
        batch_op.create_index(batch_op.f("ix_charging_operations_session_id"), ["session_id"], unique=False)

    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_snapshot_date", kopek.store.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("snapshot_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("snapshot_days")
        batch_op.drop_column("last_snapshot_date")

    with op.batch_alter_table("charging_operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_operations_session_id"))
        batch_op.drop_column("session_id")

    op.drop_table("reservations")
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_sessions_subscriber_account_id"))
        batch_op.drop_index(batch_op.f("ix_charging_sessions_status"))
        batch_op.drop_index(batch_op.f("ix_charging_sessions_reservation_id"))
        batch_op.drop_index(batch_op.f("ix_charging_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_charging_sessions_contract_id"))

    op.drop_table("charging_sessions")
    op.drop_table("activations")
    op.drop_table("shared_counters")

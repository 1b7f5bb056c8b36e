"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "catalogs",
        sa.Column("version", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loaded_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_catalogs")),
    )
    op.create_table(
        "charging_operations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("subscriber_account_id", sa.String(length=128), nullable=False),
        sa.Column("consumption_date", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sender_job_id", sa.String(length=128), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_operations")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_charging_operations_idempotency_key")),
    )
    with op.batch_alter_table("charging_operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charging_operations_contract_id"), ["contract_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("contract_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_operation_id"), ["operation_id"], unique=False)

    op.create_table(
        "subscriber_accounts",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=256), server_default="", nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_accounts")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("subscriber_account_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("floor", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("credit_limit", kopek.store.types.ExactDecimal(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_account_id"], ["subscriber_accounts.id"], name=op.f("fk_accounts_subscriber_account_id_subscriber_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_subscriber_account_id"), ["subscriber_account_id"], unique=False)

    op.create_table(
        "charged_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("contract_item_id", sa.String(length=128), nullable=False),
        sa.Column("item_class", sa.String(length=128), nullable=False),
        sa.Column("charge_plan", sa.String(length=128), nullable=False),
        sa.Column("charge", sa.String(length=128), nullable=False),
        sa.Column("account_role", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("amount", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("quantity_unit", sa.String(length=16), nullable=True),
        sa.Column("output", sa.String(length=16), nullable=False),
        sa.Column("consumption_date", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operation_id"], ["charging_operations.id"], name=op.f("fk_charged_items_operation_id_charging_operations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charged_items")),
    )
    with op.batch_alter_table("charged_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charged_items_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charged_items_operation_id"), ["operation_id"], unique=False)

    op.create_table(
        "contracts",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("subscriber_account_id", sa.String(length=128), nullable=False),
        sa.Column("valid_from", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["contracts.id"], name=op.f("fk_contracts_parent_id_contracts")),
        sa.ForeignKeyConstraint(
            ["subscriber_account_id"], ["subscriber_accounts.id"], name=op.f("fk_contracts_subscriber_account_id_subscriber_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_subscriber_account_id"), ["subscriber_account_id"], unique=False)

    op.create_table(
        "exported_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("file_name", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["operation_id"], ["charging_operations.id"], name=op.f("fk_exported_items_operation_id_charging_operations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exported_items")),
    )
    with op.batch_alter_table("exported_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exported_items_file_name"), ["file_name"], unique=False)

    op.create_table(
        "accesses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("valid_from", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_accesses_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accesses")),
    )
    with op.batch_alter_table("accesses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accesses_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index("ix_accesses_service_user", ["service_id", "user_id", "valid_from"], unique=False)

    op.create_table(
        "account_operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("balance_after", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_account_operations_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_operations")),
    )
    with op.batch_alter_table("account_operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_operations_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_operations_operation_id"), ["operation_id"], unique=False)

    op.create_table(
        "contract_items",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("charge_plan", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_contract_items_contract_id_contracts")),
        sa.PrimaryKeyConstraint("contract_id", "item_id", name=op.f("pk_contract_items")),
    )
    op.create_table(
        "contract_roles",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_contract_roles_account_id_accounts")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_contract_roles_contract_id_contracts")),
        sa.PrimaryKeyConstraint("contract_id", "role", name=op.f("pk_contract_roles")),
    )
    op.create_table(
        "counters",
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("value", kopek.store.types.ExactDecimal(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_counters_contract_id_contracts")),
        sa.PrimaryKeyConstraint("contract_id", "item_id", "name", name=op.f("pk_counters")),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("contract_roles")
    op.drop_table("contract_items")
    with op.batch_alter_table("account_operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_operations_operation_id"))
        batch_op.drop_index(batch_op.f("ix_account_operations_account_id"))

    op.drop_table("account_operations")
    with op.batch_alter_table("accesses", schema=None) as batch_op:
        batch_op.drop_index("ix_accesses_service_user")
        batch_op.drop_index(batch_op.f("ix_accesses_contract_id"))

    op.drop_table("accesses")
    with op.batch_alter_table("exported_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exported_items_file_name"))

    op.drop_table("exported_items")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_subscriber_account_id"))

    op.drop_table("contracts")
    with op.batch_alter_table("charged_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charged_items_operation_id"))
        batch_op.drop_index(batch_op.f("ix_charged_items_contract_id"))

    op.drop_table("charged_items")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_subscriber_account_id"))

    op.drop_table("accounts")
    op.drop_table("subscriber_accounts")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_operation_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("charging_operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charging_operations_contract_id"))

    op.drop_table("charging_operations")
    op.drop_table("catalogs")
    op.drop_table("audit_log")

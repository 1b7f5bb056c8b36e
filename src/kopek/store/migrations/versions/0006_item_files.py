"""item files

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("amount_totals", sa.Text(), nullable=True),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_files")),
        sa.UniqueConstraint("file_name", name=op.f("uq_item_files_file_name")),
    )
    op.create_index("ix_item_files_kind_state", "item_files", ["kind", "state"], unique=False)
    # Plain nullable columns: SQLite adds them without rebuilding the table.
    op.add_column("charged_items", sa.Column("billable_file_id", sa.Integer(), nullable=True))
    op.add_column("charged_items", sa.Column("consumption_file_id", sa.Integer(), nullable=True))
    for kind in ("billable", "consumption"):
        pending = sa.text(f"{kind}_file_id IS NULL AND output IN ('{kind}', 'both')")
        op.create_index(f"ix_charged_items_{kind}_pending", "charged_items", ["id"], postgresql_where=pending, sqlite_where=pending)


def downgrade() -> None:
    op.drop_index("ix_charged_items_consumption_pending", table_name="charged_items")
    op.drop_index("ix_charged_items_billable_pending", table_name="charged_items")
    with op.batch_alter_table("charged_items", schema=None) as batch_op:
        batch_op.drop_column("consumption_file_id")
        batch_op.drop_column("billable_file_id")
    op.drop_index("ix_item_files_kind_state", table_name="item_files")
    op.drop_table("item_files")

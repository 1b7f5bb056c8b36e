"""recharging

The counter journal (what a restoration point is rebuilt from), the recharges, and on
each charged item the recharge that wrote, reversed or superseded it. Every existing
contract gets a ``mark`` in the journal: no restoration point reaches back before it.

Revision ID: 0020
Revises: 0019
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    journal = op.create_table(
        "counter_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("value", kopek.store.types.ExactRational(), nullable=True),
        sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_journal")),
    )
    op.create_index("ix_counter_journal_contract", "counter_journal", ["contract_id", "id"], unique=False)
    op.create_index("ix_counter_journal_operation", "counter_journal", ["operation_id"], unique=False)
    op.create_table(
        "recharges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("from_date", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", kopek.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recharges")),
    )
    op.create_index(op.f("ix_recharges_contract_id"), "recharges", ["contract_id"], unique=False)
    op.create_index(op.f("ix_recharges_job_id"), "recharges", ["job_id"], unique=False)
    # Plain nullable columns: SQLite adds them without rebuilding the table.
    op.add_column("charged_items", sa.Column("recharge_id", sa.String(length=64), nullable=True))
    op.add_column("charged_items", sa.Column("reverses_id", sa.Integer(), nullable=True))
    op.add_column("charged_items", sa.Column("superseded_by", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_charged_items_recharge_id"), "charged_items", ["recharge_id"], unique=False)
    # The journal begins now: what the contracts' counters held before is not in it.
    now = datetime.now(UTC)
    contract_ids = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM contracts"))]
    if contract_ids:
        op.bulk_insert(journal, [_mark(contract_id, now) for contract_id in contract_ids])


def _mark(contract_id: str, at: datetime) -> dict[str, object]:
    return {
        "contract_id": contract_id, "operation_id": None, "kind": "mark", "scope": "", "item_id": "", "name": "", "unit": "",
        "present": False, "value": None, "period_start": None, "expires_at": None, "recorded_at": at,
    }  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_charged_items_recharge_id"), table_name="charged_items")
    with op.batch_alter_table("charged_items", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("reverses_id")
        batch_op.drop_column("recharge_id")
    op.drop_index(op.f("ix_recharges_job_id"), table_name="recharges")
    op.drop_index(op.f("ix_recharges_contract_id"), table_name="recharges")
    op.drop_table("recharges")
    op.drop_index("ix_counter_journal_operation", table_name="counter_journal")
    op.drop_index("ix_counter_journal_contract", table_name="counter_journal")
    op.drop_table("counter_journal")

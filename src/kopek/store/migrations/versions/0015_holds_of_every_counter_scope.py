"""session counter holds of every stored counter scope

A grant now holds the counters of its own contract too (scopes contract_item and
activation), so the table keys a hold by the contract item or activation as well.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _table(*columns: sa.Column) -> sa.Table:  # type: ignore[type-arg]
    return op.create_table(
        "session_counter_holds",
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("namespace", sa.String(length=128), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=False),
        *columns,
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("delta", kopek.store.types.ExactDecimal(), nullable=False),
        sa.Column("period_start", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["charging_sessions.id"]),
        sa.PrimaryKeyConstraint("session_id", "scope", "namespace", "contract_id", *(column.name for column in columns), "name"),
    )


def upgrade() -> None:
    # The table is made again rather than its key changed (SQLite cannot alter a key in place). It holds only the holds
    # of live grants: few rows, read and written back.
    old = sa.table(
        "session_counter_holds",
        *(sa.column(name) for name in ("session_id", "scope", "namespace", "contract_id", "name")),
        sa.column("delta", kopek.store.types.ExactDecimal()),
        sa.column("period_start", kopek.store.types.UtcDateTime(timezone=True)),
    )
    rows = [dict(row) for row in op.get_bind().execute(sa.select(old)).mappings()]
    op.drop_index("ix_session_counter_holds_counter", table_name="session_counter_holds")
    op.drop_table("session_counter_holds")
    table = _table(sa.Column("item_id", sa.String(length=128), nullable=False))
    if rows:
        op.bulk_insert(table, [row | {"item_id": ""} for row in rows])
    op.create_index("ix_session_counter_holds_counter", "session_counter_holds", ["scope", "namespace", "contract_id", "name"])


def downgrade() -> None:
    # The holds of live grants are dropped: grants made before the downgrade hold nothing after it.
    op.drop_index("ix_session_counter_holds_counter", table_name="session_counter_holds")
    op.drop_table("session_counter_holds")
    _table()
    op.create_index("ix_session_counter_holds_counter", "session_counter_holds", ["scope", "namespace", "contract_id", "name"])

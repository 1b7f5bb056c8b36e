"""account status

Each prepaid or postpaid account has a status of its own (active, blocked, locked,
closed), besides its subscriber account's: existing accounts are active.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place with a default: no table rebuild on SQLite (the accounts are referenced by many tables).
    op.add_column("accounts", sa.Column("status", sa.String(length=16), nullable=False, server_default="active"))


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN status")

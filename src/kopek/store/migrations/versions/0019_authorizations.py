"""authorizations

An authorization (an offline request that only reserves) is kept as a charging session of its
own kind: ``kind`` tells them apart (existing rows are sessions), ``authorized_amount`` keeps
the amount first reserved, after the reservation is captured or released.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place with defaults: no table rebuild on SQLite (reservations and holds reference the sessions).
    op.add_column("charging_sessions", sa.Column("kind", sa.String(length=16), nullable=False, server_default="session"))
    op.add_column("charging_sessions", sa.Column("authorized_amount", kopek.store.types.ExactDecimal(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE charging_sessions DROP COLUMN authorized_amount")
    op.execute("ALTER TABLE charging_sessions DROP COLUMN kind")

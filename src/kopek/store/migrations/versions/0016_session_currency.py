"""session currency

Sessions keep the currency of their amounts (granted, reserved, charged). Sessions
started before this revision take their subscriber account's currency.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place with a default (no table rebuild: on SQLite a rebuild of this table, which the reservations
    # reference, fails while they have rows), then filled in.
    op.add_column("charging_sessions", sa.Column("currency", sa.String(length=3), nullable=False, server_default=""))
    op.execute(
        "UPDATE charging_sessions SET currency = "
        "(SELECT currency FROM subscriber_accounts WHERE subscriber_accounts.id = charging_sessions.subscriber_account_id)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE charging_sessions DROP COLUMN currency")

"""fee operations without idempotency keys

A fee period's operation was stored under the key ``fee-<digest of the period>``, in the
key space of clients' idempotency keys: a client's charge under that key would have made
the fee run fail. A fee period is charged once by the primary key of ``fee_applications``,
so its operation needs no key: the keys of stored fee operations are cleared.

Revision ID: 0023
Revises: 0022
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE charging_operations SET idempotency_key = NULL"
        " WHERE idempotency_key LIKE 'fee-%' AND id IN (SELECT operation_id FROM fee_applications)"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE charging_operations SET idempotency_key = 'fee-' || request_hash"
        " WHERE idempotency_key IS NULL AND id IN (SELECT operation_id FROM fee_applications)"
    )

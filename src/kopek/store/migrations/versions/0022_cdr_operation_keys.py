"""CDR ids and clients' idempotency keys are two key spaces

A rating job used to store a CDR's operation under the CDR id as its idempotency key,
so a client's charge with the key ``h1`` made the CDR ``h1`` fail (or replay the
client's charge). A CDR's operation now keeps the CDR id in ``cdr_id`` (unique, null for
every other operation) and no idempotency key. The operations rating jobs stored are
moved there: those whose key is the id of the CDR that names them as its operation and
whose sender job is that CDR's job (a client's charge under such a key keeps it). Adding
a nullable column rewrites no table on SQLite or PostgreSQL; the update touches the
operations of charged CDRs once.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_MOVED = """
UPDATE charging_operations SET cdr_id = idempotency_key, idempotency_key = NULL
WHERE idempotency_key IS NOT NULL AND sender_job_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM cdrs
    WHERE cdrs.id = charging_operations.idempotency_key
      AND cdrs.operation_id = charging_operations.id
      AND cdrs.job_id = charging_operations.sender_job_id
)
"""

_BACK = """
UPDATE charging_operations SET idempotency_key = cdr_id
WHERE cdr_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM charging_operations AS keyed WHERE keyed.idempotency_key = charging_operations.cdr_id)
"""


def upgrade() -> None:
    op.add_column("charging_operations", sa.Column("cdr_id", sa.String(length=128), nullable=True))
    op.execute(_MOVED)
    op.create_index("uq_charging_operations_cdr_id", "charging_operations", ["cdr_id"], unique=True)


def downgrade() -> None:
    # Where a client's key equals a CDR id the two clash again: that CDR's operation keeps no key.
    op.execute(_BACK)
    op.drop_index("uq_charging_operations_cdr_id", table_name="charging_operations")
    with op.batch_alter_table("charging_operations", schema=None) as batch_op:
        batch_op.drop_column("cdr_id")

"""cdrs without their job id index

``ix_cdrs_job_id`` served lookups by job that ``ix_cdrs_job_partition`` (job id, partition,
status) serves as well, and every CDR a rating job rates changed both. Only the latter stays.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cdrs_job_id", table_name="cdrs")


def downgrade() -> None:
    op.create_index("ix_cdrs_job_id", "cdrs", ["job_id"], unique=False)

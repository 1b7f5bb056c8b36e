"""an index of the failed and skipped CDRs by job and partition

Each chunk of a rating job asks which contracts of its partitions a failed or skipped CDR
stopped. ``ix_cdrs_job_partition`` answered by reading every CDR the job had rated so far
(PostgreSQL checked the status of each in the table), so the question grew with the job:
0.09 s after 200,000 CDRs, 0.34 s after 1,000,000, asked again by every chunk. This
partial index holds only the failed and skipped CDRs, with their contract, so the answer
costs what the failures are.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

STOPPED = "status IN ('failed', 'skipped')"


def upgrade() -> None:
    op.create_index(
        "ix_cdrs_job_stopped",
        "cdrs",
        ["job_id", "partition_key", "contract_id"],
        postgresql_where=sa.text(STOPPED),
        sqlite_where=sa.text(STOPPED),
    )


def downgrade() -> None:
    op.drop_index("ix_cdrs_job_stopped", table_name="cdrs")

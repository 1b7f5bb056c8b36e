"""batch partitions

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable columns: SQLite adds them without rebuilding the table.
    op.add_column("cdrs", sa.Column("contract_id", sa.String(length=128), nullable=True))
    op.add_column("cdrs", sa.Column("partition_key", sa.String(length=300), nullable=True))
    op.create_index("ix_cdrs_job_partition", "cdrs", ["job_id", "partition_key", "status"], unique=False)
    op.create_table(
        "rating_job_partitions",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("partition_key", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cdr_count", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["rating_jobs.id"], name=op.f("fk_rating_job_partitions_job_id_rating_jobs")),
        sa.PrimaryKeyConstraint("job_id", "partition_key", name=op.f("pk_rating_job_partitions")),
    )
    op.create_index("ix_rating_job_partitions_job_status", "rating_job_partitions", ["job_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rating_job_partitions_job_status", table_name="rating_job_partitions")
    op.drop_table("rating_job_partitions")
    op.drop_index("ix_cdrs_job_partition", table_name="cdrs")
    with op.batch_alter_table("cdrs", schema=None) as batch_op:
        batch_op.drop_column("partition_key")
        batch_op.drop_column("contract_id")

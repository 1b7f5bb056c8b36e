"""rating job scopes

A rating job no longer writes its id to every CDR it takes when it starts: it records a
scope (its filters, the CDRs imported up to ``rating_jobs.cdr_seq_max``, the jobs it
leaves out) and what each partition holds (``rating_job_members``); a CDR carries the job
once its chunk is rated. ``cdrs.seq`` numbers the CDRs in import order (existing rows in
their stored order); ``ix_cdrs_free_by_access`` finds a partition's free CDRs.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

FREE = sa.text("status = 'pending' AND job_id IS NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A sequence numbers the rows, the existing ones (in their stored order) as the column is added.
        op.execute("CREATE SEQUENCE cdrs_seq")
        op.add_column("cdrs", sa.Column("seq", sa.BigInteger(), nullable=False, server_default=sa.text("nextval('cdrs_seq')")))
        op.execute("ALTER SEQUENCE cdrs_seq OWNED BY cdrs.seq")
    else:
        # SQLite adds a NOT NULL column without a default only by copying the table: number the rows, then copy.
        op.add_column("cdrs", sa.Column("seq", sa.BigInteger(), nullable=True))
        op.execute("UPDATE cdrs SET seq = rowid")
        with op.batch_alter_table("cdrs") as batch_op:
            batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ix_cdrs_seq", "cdrs", ["seq"], unique=True)
    # Partial on PostgreSQL; on SQLite, whose planner is steered away from the status index, on every CDR.
    op.create_index("ix_cdrs_free_by_access", "cdrs", ["service_id", "user_id", "consumption_date"], postgresql_where=FREE)
    op.add_column("rating_jobs", sa.Column("cdr_seq_max", sa.BigInteger(), nullable=True))
    op.add_column("rating_jobs", sa.Column("overlapped_jobs", sa.Text(), nullable=True))
    op.create_table(
        "rating_job_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("partition_key", sa.String(length=300), nullable=False),
        sa.Column("contract_id", sa.String(length=128), nullable=True),
        sa.Column("service_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["rating_jobs.id"], name=op.f("fk_rating_job_members_job_id_rating_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_job_members")),
    )
    op.create_index("ix_rating_job_members_job_partition", "rating_job_members", ["job_id", "partition_key"], unique=False)
    op.create_index("ix_rating_job_members_job_contract", "rating_job_members", ["job_id", "contract_id"], unique=False)
    op.create_index("ix_rating_job_members_job_access", "rating_job_members", ["job_id", "service_id", "user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rating_job_members_job_access", table_name="rating_job_members")
    op.drop_index("ix_rating_job_members_job_contract", table_name="rating_job_members")
    op.drop_index("ix_rating_job_members_job_partition", table_name="rating_job_members")
    op.drop_table("rating_job_members")
    with op.batch_alter_table("rating_jobs") as batch_op:
        batch_op.drop_column("overlapped_jobs")
        batch_op.drop_column("cdr_seq_max")
    op.drop_index("ix_cdrs_free_by_access", table_name="cdrs")
    op.drop_index("ix_cdrs_seq", table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch_op:
        batch_op.drop_column("seq")

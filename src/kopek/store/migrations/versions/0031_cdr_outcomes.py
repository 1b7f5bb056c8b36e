"""a CDR's outcome as a row of its own

A rating job's chunk no longer updates the rows of the CDRs it rates: it appends each
CDR's outcome (status, operation or error, chunk, and the job, contract and partition
that rated it) to ``cdr_outcomes``. An update of ``cdrs`` wrote a new version of the
whole CDR and of its indexed status, job and partition, on pages spread over the table;
the appended row is one narrow tuple and its keys (docs/batch.md, "A CDR's outcome, a row
of its own"). ``cdrs`` keeps what was imported, and the job, contract and partition only
of a CDR a job holds from its start (a failed or skipped CDR taken again).

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

HELD = sa.text("job_id IS NOT NULL")
FREE = sa.text("job_id IS NULL")
STOPPED = sa.text("status IN ('failed', 'skipped')")
OUTCOME = ("status", "error_category", "error_reason", "error_code", "error_message", "operation_id", "chunk_id")


def upgrade() -> None:
    op.create_table(
        "cdr_outcomes",
        sa.Column("cdr_id", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("chunk_id", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("error_reason", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("contract_id", sa.String(length=128), nullable=True),
        sa.Column("partition_key", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("cdr_id", name=op.f("pk_cdr_outcomes")),
    )
    # The outcomes so far, with the job, contract and partition that rated each (a job's id is empty for a CDR rated
    # before jobs were recorded with it).
    op.execute(
        "INSERT INTO cdr_outcomes (cdr_id, job_id, chunk_id, status, operation_id, error_category, error_reason,"
        " error_code, error_message, contract_id, partition_key)"
        " SELECT id, coalesce(job_id, ''), chunk_id, status, operation_id, error_category, error_reason, error_code,"
        " error_message, contract_id, partition_key FROM cdrs WHERE status <> 'pending'"
    )
    op.create_index("ix_cdr_outcomes_job_status", "cdr_outcomes", ["job_id", "status"])
    op.create_index(
        "ix_cdr_outcomes_job_stopped",
        "cdr_outcomes",
        ["job_id", "partition_key", "contract_id"],
        postgresql_where=STOPPED,
        sqlite_where=STOPPED,
    )
    for index in ("ix_cdrs_status_consumption_date", "ix_cdrs_job_partition", "ix_cdrs_job_stopped", "ix_cdrs_free_by_access"):
        op.drop_index(index, table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch_op:
        for column in OUTCOME:
            batch_op.drop_column(column)
    op.create_index("ix_cdrs_job_partition", "cdrs", ["job_id", "partition_key"], postgresql_where=HELD, sqlite_where=HELD)
    op.create_index("ix_cdrs_free_by_access", "cdrs", ["service_id", "user_id", "consumption_date", "seq"], postgresql_where=FREE)
    # No row: the floor of the free CDRs is the first CDR; the next job's start writes it.
    op.create_table(
        "cdr_free_floor",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_free_floor")),
    )
    op.add_column("rating_jobs", sa.Column("cdr_seq_min", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rating_jobs") as batch_op:
        batch_op.drop_column("cdr_seq_min")
    op.drop_table("cdr_free_floor")
    op.drop_index("ix_cdrs_free_by_access", table_name="cdrs")
    op.drop_index("ix_cdrs_job_partition", table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"))
        batch_op.add_column(sa.Column("error_category", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("error_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("operation_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chunk_id", sa.String(length=80), nullable=True))
    for column in (*OUTCOME, "job_id", "contract_id", "partition_key"):
        op.execute(
            f"UPDATE cdrs SET {column} = (SELECT o.{column} FROM cdr_outcomes o WHERE o.cdr_id = cdrs.id)"  # noqa: S608 - fixed names
            " WHERE EXISTS (SELECT 1 FROM cdr_outcomes o WHERE o.cdr_id = cdrs.id)"
        )
    with op.batch_alter_table("cdrs") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=16), server_default=None)
    op.drop_index("ix_cdr_outcomes_job_stopped", table_name="cdr_outcomes")
    op.drop_index("ix_cdr_outcomes_job_status", table_name="cdr_outcomes")
    op.drop_table("cdr_outcomes")
    op.create_index("ix_cdrs_status_consumption_date", "cdrs", ["status", "consumption_date"])
    op.create_index("ix_cdrs_job_partition", "cdrs", ["job_id", "partition_key", "status"])
    op.create_index(
        "ix_cdrs_job_stopped", "cdrs", ["job_id", "partition_key", "contract_id"], postgresql_where=STOPPED, sqlite_where=STOPPED
    )
    op.create_index(
        "ix_cdrs_free_by_access",
        "cdrs",
        ["service_id", "user_id", "consumption_date"],
        postgresql_where=sa.text("status = 'pending' AND job_id IS NULL"),
    )

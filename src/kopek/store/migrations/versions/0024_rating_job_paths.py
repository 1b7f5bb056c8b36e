"""rating job paths

How many CDRs each committed chunk of a rating job handled on the vectorized or the row
path, and why the row path (counted in the job's status).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_job_paths",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("cdr_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["rating_jobs.id"], name=op.f("fk_rating_job_paths_job_id_rating_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_job_paths")),
    )
    op.create_index("ix_rating_job_paths_job", "rating_job_paths", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rating_job_paths_job", table_name="rating_job_paths")
    op.drop_table("rating_job_paths")

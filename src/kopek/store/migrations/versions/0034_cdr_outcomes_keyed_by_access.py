"""a CDR's outcome keyed by the CDR's access and place in the store

``cdr_outcomes`` was keyed by the CDR's id. A chunk rates a partition's CDRs access by access, but their ids lie all
over that key's index, so once the index outgrew the database's cache every outcome written, and every look-up of one
while a partition is read, touched a page of its own (docs/batch.md, "An outcome keyed by its CDR's access"). The
outcome is now keyed by the CDR's service id, user id and ``seq`` (``seq`` is unique, and a CDR's service id and user
id never change, so there is still one outcome per CDR), and names its CDR by that key instead of by its id.

The table is made again with the new key, the outcomes copied into it with their CDRs' keys, and its indexes made
again; the downgrade does the same the other way.

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

STOPPED = sa.text("status IN ('failed', 'skipped')")
CHARGED = sa.text("operation_id IS NOT NULL")
OUTCOME = (
    "job_id",
    "chunk_id",
    "status",
    "operation_id",
    "charged_at",
    "error_category",
    "error_reason",
    "error_code",
    "error_message",
    "contract_id",
    "partition_key",
)
"""The columns of an outcome besides the CDR it names, the same at both revisions."""
KEY = ("service_id", "user_id", "seq")


def upgrade() -> None:
    _set_aside("cdr_outcomes_by_id")
    _create_table(
        [
            sa.Column("service_id", sa.String(length=128), nullable=False),
            sa.Column("user_id", sa.String(length=128), nullable=False),
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        ],
        KEY,
    )
    _copy("cdr_outcomes_by_id", KEY, "cdr.id = outcome.cdr_id")
    op.drop_table("cdr_outcomes_by_id")
    _create_indexes()


def downgrade() -> None:
    _set_aside("cdr_outcomes_by_access")
    _create_table([sa.Column("cdr_id", sa.String(length=128), nullable=False)], ("cdr_id",))
    _copy("cdr_outcomes_by_access", ("id",), " AND ".join(f"cdr.{name} = outcome.{name}" for name in KEY))
    op.drop_table("cdr_outcomes_by_access")
    _create_indexes()


def _set_aside(name: str) -> None:
    """Rename ``cdr_outcomes`` to ``name``, its indexes dropped and (PostgreSQL) its primary key renamed, so that the
    new table can take their names."""
    op.drop_index("ix_cdr_outcomes_job_status", table_name="cdr_outcomes")
    op.drop_index("ix_cdr_outcomes_contract_operation", table_name="cdr_outcomes", postgresql_where=CHARGED, sqlite_where=CHARGED)
    op.drop_index("ix_cdr_outcomes_job_stopped", table_name="cdr_outcomes", postgresql_where=STOPPED, sqlite_where=STOPPED)
    op.rename_table("cdr_outcomes", name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {name} RENAME CONSTRAINT pk_cdr_outcomes TO pk_{name}")


def _copy(source: str, cdr_columns: tuple[str, ...], on: str) -> None:
    """Copy the outcomes of ``source`` into the new ``cdr_outcomes``, each naming its CDR (a row of ``cdrs`` joined
    ``on``) by ``cdr_columns`` (``id`` as ``cdr_id``)."""
    named = ", ".join("cdr_id" if name == "id" else name for name in cdr_columns)
    of_cdr = ", ".join(f"cdr.{name}" for name in cdr_columns)
    outcome = ", ".join(OUTCOME)
    copied = ", ".join(f"outcome.{name}" for name in OUTCOME)
    op.execute(
        f"INSERT INTO cdr_outcomes ({named}, {outcome})"  # noqa: S608 - fixed names
        f" SELECT {of_cdr}, {copied} FROM {source} AS outcome JOIN cdrs AS cdr ON {on}"
    )


def _create_table(key_columns: list[sa.Column[object]], key: tuple[str, ...]) -> None:
    op.create_table(
        "cdr_outcomes",
        *key_columns,
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("chunk_id", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("charged_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("error_reason", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("contract_id", sa.String(length=128), nullable=True),
        sa.Column("partition_key", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_cdr_outcomes")),
    )


def _create_indexes() -> None:
    op.create_index("ix_cdr_outcomes_job_status", "cdr_outcomes", ["job_id", "status"])
    op.create_index(
        "ix_cdr_outcomes_contract_operation",
        "cdr_outcomes",
        ["contract_id", "operation_id"],
        postgresql_where=CHARGED,
        sqlite_where=CHARGED,
    )
    op.create_index(
        "ix_cdr_outcomes_job_stopped",
        "cdr_outcomes",
        ["job_id", "partition_key", "contract_id"],
        postgresql_where=STOPPED,
        sqlite_where=STOPPED,
    )

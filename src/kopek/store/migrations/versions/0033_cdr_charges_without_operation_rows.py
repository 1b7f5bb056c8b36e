"""a charged CDR's outcome is its record: no operation row per CDR

A rating job wrote, with each charged CDR, a row of ``charging_operations`` (its CDR id, request hash, contract,
dates and job) beside the CDR's outcome, which already names the operation. The outcome is now the charge's one
record (docs/batch.md, "What a charged CDR leaves"): it gains ``charged_at`` (the operation's ``created_at``), and an
index of the contracts' charged CDRs by operation id, which a recharge reads. The operations of CDRs are removed, with
``charging_operations.cdr_id`` and its index; a CDR's charged items, journal entries and notifications keep naming
its operation id, so ``charged_items.operation_id`` no longer has a foreign key (on SQLite removed by editing the
table's stored definition, :mod:`kopek.store.migrations.sqlite_definitions`).

The downgrade writes the operations of charged CDRs again from their outcomes, the CDRs and their contracts, with an
empty request hash (a CDR's hash is not kept).

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

import kopek.store.types
from kopek.store.migrations.sqlite_definitions import edit_sqlite_definition

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_charged_items_operation_id_charging_operations"
SQLITE_FOREIGN_KEY = f"CONSTRAINT {FOREIGN_KEY} FOREIGN KEY(operation_id) REFERENCES charging_operations (id)"
CHARGED = sa.text("operation_id IS NOT NULL")
WITH_CDR = sa.text("cdr_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("cdr_outcomes", sa.Column("charged_at", kopek.store.types.UtcDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE cdr_outcomes SET charged_at = (SELECT operation.created_at FROM charging_operations AS operation"
        " WHERE operation.id = cdr_outcomes.operation_id) WHERE operation_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "sqlite":
        edit_sqlite_definition(op.get_bind(), "charged_items", r",\s*" + SQLITE_FOREIGN_KEY.replace("(", r"\(").replace(")", r"\)"), "")
    else:
        op.drop_constraint(FOREIGN_KEY, "charged_items", type_="foreignkey")
    op.execute("DELETE FROM charging_operations WHERE cdr_id IS NOT NULL")
    op.drop_index("uq_charging_operations_cdr_id", table_name="charging_operations", postgresql_where=WITH_CDR, sqlite_where=WITH_CDR)
    op.drop_column("charging_operations", "cdr_id")
    op.create_index(
        "ix_cdr_outcomes_contract_operation",
        "cdr_outcomes",
        ["contract_id", "operation_id"],
        postgresql_where=CHARGED,
        sqlite_where=CHARGED,
    )


def downgrade() -> None:
    op.drop_index("ix_cdr_outcomes_contract_operation", table_name="cdr_outcomes", postgresql_where=CHARGED, sqlite_where=CHARGED)
    op.add_column("charging_operations", sa.Column("cdr_id", sa.String(length=128), nullable=True))
    op.create_index(
        "uq_charging_operations_cdr_id", "charging_operations", ["cdr_id"], unique=True, postgresql_where=WITH_CDR, sqlite_where=WITH_CDR
    )
    op.execute(
        "INSERT INTO charging_operations (id, idempotency_key, request_hash, contract_id, subscriber_account_id,"
        " consumption_date, created_at, sender_job_id, result, session_id, cdr_id)"
        " SELECT outcome.operation_id, NULL, '', outcome.contract_id, contract.subscriber_account_id, cdr.consumption_date,"
        " outcome.charged_at, outcome.job_id, NULL, NULL, outcome.cdr_id"
        " FROM cdr_outcomes AS outcome JOIN cdrs AS cdr ON cdr.id = outcome.cdr_id"
        " JOIN contracts AS contract ON contract.id = outcome.contract_id WHERE outcome.operation_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "sqlite":
        primary_key = r"(CONSTRAINT pk_charged_items PRIMARY KEY \(id\))"
        edit_sqlite_definition(op.get_bind(), "charged_items", primary_key, r"\1, " + "\n\t" + SQLITE_FOREIGN_KEY)
    else:
        op.create_foreign_key(FOREIGN_KEY, "charged_items", "charging_operations", ["operation_id"], ["id"])
    op.drop_column("cdr_outcomes", "charged_at")

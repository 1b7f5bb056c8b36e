"""The tables of kopek's system of record (SQLAlchemy Core).

Every row that belongs to a subscriber account carries ``subscriber_account_id``
or reaches it in one join, so the schema can be distributed by that key later.
Changes to this module need an Alembic revision in ``store/migrations``.
"""

from __future__ import annotations

import sqlalchemy as sa

from kopek.store.types import ExactDecimal, ExactRational, UtcDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

catalogs = sa.Table(
    "catalogs",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("loaded_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    # Only a digest of the secret is kept; the secret is shown once, when the key is created.
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    # succeeded, or refused (the error code is in details): refused attempts are audited too.
    sa.Column("outcome", sa.String(16), nullable=False, server_default="succeeded"),
)

subscriber_accounts = sa.Table(
    "subscriber_accounts",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("name", sa.String(256), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("subscriber_account_id", sa.String(128), sa.ForeignKey("subscriber_accounts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("balance", ExactDecimal, nullable=False),
    sa.Column("floor", ExactDecimal, nullable=False),
    sa.Column("credit_limit", ExactDecimal, nullable=True),
    # Prepaid: a charge taking the balance from at-or-above this to below it notifies low_balance (none: never).
    sa.Column("low_balance_threshold", ExactDecimal, nullable=True),
    # The account's own status; a charge also checks its subscriber account's.
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
)

contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("subscriber_account_id", sa.String(128), sa.ForeignKey("subscriber_accounts.id"), nullable=False, index=True),
    sa.Column("valid_from", UtcDateTime, nullable=False),
    sa.Column("valid_to", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(128), sa.ForeignKey("contracts.id"), nullable=True),
    sa.Column("last_snapshot_date", UtcDateTime, nullable=True),
    sa.Column("snapshot_days", sa.Integer, nullable=True),
)

contract_items = sa.Table(
    "contract_items",
    metadata,
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), primary_key=True),
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("charge_plan", sa.String(128), nullable=False),
)

contract_roles = sa.Table(
    "contract_roles",
    metadata,
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), primary_key=True),
    sa.Column("role", sa.String(128), primary_key=True),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False),
)

accesses = sa.Table(
    "accesses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), nullable=False, index=True),
    sa.Column("valid_from", UtcDateTime, nullable=False),
    sa.Column("valid_to", UtcDateTime, nullable=True),
    sa.Index("ix_accesses_service_user", "service_id", "user_id", "valid_from"),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), primary_key=True),
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("unit", sa.String(16), nullable=False),
    # Exact, in the counter's unit: a decimal, or n/d when it has no finite decimal expansion.
    sa.Column("value", ExactRational, nullable=False),
    # The start of the reset period the value belongs to (none: the counter never resets).
    sa.Column("period_start", UtcDateTime, nullable=True),
    # From this instant on the value is gone and the counter holds its initial value again (bonus units).
    sa.Column("expires_at", UtcDateTime, nullable=True),
)

charging_operations = sa.Table(
    "charging_operations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(128), nullable=True, unique=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("contract_id", sa.String(128), nullable=False, index=True),
    sa.Column("subscriber_account_id", sa.String(128), nullable=False),
    sa.Column("consumption_date", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("sender_job_id", sa.String(128), nullable=True),
    sa.Column("session_id", sa.String(128), nullable=True),
    # The result as stored: what a retry under the key answers, what a recharge charges again (the item, a refill's
    # bonus units). Every operation keeps one since revision 0033 (the rows of CDRs' charges, which kept none, are gone).
    sa.Column("result", sa.Text, nullable=True),
    # Partial: most operations have no session (offline charges, CDRs), and an index of them would be written for nothing.
    sa.Index(
        "ix_charging_operations_session_id",
        "session_id",
        postgresql_where=sa.text("session_id IS NOT NULL"),
        sqlite_where=sa.text("session_id IS NOT NULL"),
    ),
)

BILLABLE_PENDING = "billable_file_id IS NULL AND output IN ('billable', 'both')"
"""The charged items that belong in a billable file and are in none yet."""
CONSUMPTION_PENDING = "consumption_file_id IS NULL AND output IN ('consumption', 'both')"
"""The charged items that belong in a consumption file and are in none yet."""

charged_items = sa.Table(
    "charged_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # A charging operation's id, or a rated CDR's (its outcome's ``operation_id``: a CDR's charge has no operation row,
    # docs/batch.md "What a charged CDR leaves"), so no foreign key.
    sa.Column("operation_id", sa.String(64), nullable=False, index=True),
    sa.Column("contract_id", sa.String(128), nullable=False, index=True),
    sa.Column("contract_item_id", sa.String(128), nullable=False),
    sa.Column("item_class", sa.String(128), nullable=False),
    sa.Column("charge_plan", sa.String(128), nullable=False),
    sa.Column("charge", sa.String(128), nullable=False),
    sa.Column("account_role", sa.String(128), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("amount", ExactDecimal, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("quantity", ExactDecimal, nullable=False),
    sa.Column("quantity_unit", sa.String(16), nullable=True),
    sa.Column("output", sa.String(16), nullable=False),
    sa.Column("consumption_date", UtcDateTime, nullable=False),
    # The item files holding this item (see docs/item-files.md); null until an export claims it.
    # A column per kind, not a high-water mark: on PostgreSQL a lower id can commit after a higher one.
    # No foreign key, so adding the columns does not rebuild this large table on SQLite.
    sa.Column("billable_file_id", sa.Integer, nullable=True),
    sa.Column("consumption_file_id", sa.Integer, nullable=True),
    # Recharging (docs/recharging.md): the recharge that wrote this row (none: the charge itself did), the row it
    # reverses (a correction row of amount and quantity minus the reversed one's), and the recharge that superseded
    # this row (none: it stands). No foreign keys, so adding the columns does not rebuild this large table on SQLite.
    sa.Column("recharge_id", sa.String(64), nullable=True),
    sa.Column("reverses_id", sa.Integer, nullable=True),
    sa.Column("superseded_by", sa.String(64), nullable=True),
    # The rating job's chunk that charged this item (none: a charge of its own); its account operations name the chunk.
    sa.Column("chunk_id", sa.String(80), nullable=True),
    # Partial: only the rows a recharge wrote have one.
    sa.Index(
        "ix_charged_items_recharge_id",
        "recharge_id",
        postgresql_where=sa.text("recharge_id IS NOT NULL"),
        sqlite_where=sa.text("recharge_id IS NOT NULL"),
    ),
    # Partial indexes of the items still waiting for a file: they stay as small as the backlog.
    sa.Index(
        "ix_charged_items_billable_pending",
        "id",
        postgresql_where=sa.text(BILLABLE_PENDING),
        sqlite_where=sa.text(BILLABLE_PENDING),
    ),
    sa.Index(
        "ix_charged_items_consumption_pending",
        "id",
        postgresql_where=sa.text(CONSUMPTION_PENDING),
        sqlite_where=sa.text(CONSUMPTION_PENDING),
    ),
)

account_operations = sa.Table(
    "account_operations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("operation_id", sa.String(64), nullable=True, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount", ExactDecimal, nullable=False),
    sa.Column("balance_after", ExactDecimal, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # A rating job's chunk posts one account operation per account: it names the chunk, not an operation
    # (docs/batch.md, What a charged CDR leaves).
    sa.Column("chunk_id", sa.String(80), nullable=True),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operation_id", sa.String(64), nullable=True, index=True),
    sa.Column("contract_id", sa.String(128), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The outbox: set once the notification's publication to the message broker was acknowledged.
    sa.Column("published_at", UtcDateTime, nullable=True),
)
# The publisher reads the unpublished notifications in id order: a partial index keeps that read
# small however many published notifications the table holds.
sa.Index(
    "ix_notifications_unpublished",
    notifications.c.id,
    postgresql_where=notifications.c.published_at.is_(None),
    sqlite_where=notifications.c.published_at.is_(None),
)

exported_items = sa.Table(
    "exported_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operation_id", sa.String(64), sa.ForeignKey("charging_operations.id"), nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("file_name", sa.String(256), nullable=True, index=True),
)

item_files = sa.Table(
    "item_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("file_name", sa.String(256), nullable=False, unique=True),
    # ``writing`` from the claim of its rows until the file and its manifest are in place, then ``complete``.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("first_id", sa.Integer, nullable=False),
    sa.Column("last_id", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("amount_totals", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Index("ix_item_files_kind_state", "kind", "state"),
)

# ---- online charging sessions ------------------------------------------------------------

charging_sessions = sa.Table(
    "charging_sessions",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("reservation_id", sa.String(128), nullable=False, index=True),
    sa.Column("subscriber_account_id", sa.String(128), nullable=False, index=True),
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), nullable=False, index=True),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("item_class", sa.String(128), nullable=False),
    sa.Column("quantity_property", sa.String(128), nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("default_resolution", sa.String(16), nullable=False),
    sa.Column("ttl_ms", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.Column("consumption_date", UtcDateTime, nullable=False),
    sa.Column("granted_quantity", ExactDecimal, nullable=False),
    sa.Column("used_quantity", ExactDecimal, nullable=False),
    sa.Column("charged_amount", ExactDecimal, nullable=False),
    # The currency of the session's amounts: its charges' plan currency, fixed at its start.
    sa.Column("currency", sa.String(3), nullable=False, server_default=""),
    sa.Column("impacts", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Where the next reported usage begins when its report gives no date (none: the start moved on by the time used).
    sa.Column("usage_resumes_at", UtcDateTime, nullable=True),
    # ``session``, or ``authorization``: an offline request that only reserves (docs/authorizations.md), kept here so
    # that its reservation, holds and expiry are a session's.
    sa.Column("kind", sa.String(16), nullable=False, server_default="session"),
    # What an authorization reserved at first, kept once it is captured or released; none for a session.
    sa.Column("authorized_amount", ExactDecimal, nullable=True),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("session_id", sa.String(128), sa.ForeignKey("charging_sessions.id"), primary_key=True),
    sa.Column("account_id", sa.String(128), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("amount", ExactDecimal, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

session_counter_holds = sa.Table(
    # What a live session's grant holds of the stored counters (scope ``shared``: ``contract_id`` "", ``item_id`` "";
    # scope ``contract``: ``namespace`` "", ``item_id`` ""; scopes ``contract_item`` and ``activation``: ``item_id`` the
    # contract item or activation), so that every other charge and grant is priced on what is left.
    "session_counter_holds",
    metadata,
    sa.Column("session_id", sa.String(128), sa.ForeignKey("charging_sessions.id"), primary_key=True),
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("contract_id", sa.String(128), primary_key=True),
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("delta", ExactRational, nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Index("ix_session_counter_holds_counter", "scope", "namespace", "contract_id", "name"),
)

session_requests = sa.Table(
    "session_requests",
    metadata,
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("session_id", sa.String(128), nullable=False, index=True),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# ---- protocol adapters (Nchf_ConvergedCharging, Diameter Gy): their side of the sessions ----------

protocol_sessions = sa.Table(
    # One charging data resource (Nchf) or credit-control session (Gy); its rating groups are charging sessions.
    "protocol_sessions",
    metadata,
    sa.Column("protocol", sa.String(16), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("subscriber", sa.String(256), nullable=False),
    sa.Column("notify_uri", sa.String(1024), nullable=True),
    # ``open`` until released (Nchf) or terminated (Gy), then ``closed``.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

protocol_exchanges = sa.Table(
    # Every answered request of a protocol session by its sequence number, so that a retransmission answers the same.
    "protocol_exchanges",
    metadata,
    sa.Column("protocol", sa.String(16), primary_key=True),
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

protocol_rating_groups = sa.Table(
    # The charging session of each rating group of a protocol session, and whether its last grant was final.
    "protocol_rating_groups",
    metadata,
    sa.Column("protocol", sa.String(16), primary_key=True),
    sa.Column("session", sa.String(128), primary_key=True),
    sa.Column("rating_group", sa.BigInteger, primary_key=True),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("contract_id", sa.String(128), nullable=True, index=True),
    sa.Column("final_grant", sa.Boolean, nullable=False),
    # The newest notification id when the final grant was given: a refill notified after it re-authorizes.
    sa.Column("notification_mark", sa.BigInteger, nullable=True),
    sa.Column("notified_at", UtcDateTime, nullable=True),
)

# ---- contract state (migration) and what later pricing features keep per contract ------------

shared_counters = sa.Table(
    "shared_counters",
    metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("unit", sa.String(16), nullable=False),
    # Exact, in the counter's unit: a decimal, or n/d when it has no finite decimal expansion.
    sa.Column("value", ExactRational, nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
)

activations = sa.Table(
    "activations",
    metadata,
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_activation_date", UtcDateTime, nullable=True),
)

activation_counters = sa.Table(
    "activation_counters",
    metadata,
    sa.Column("contract_id", sa.String(128), primary_key=True),
    sa.Column("activation_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("unit", sa.String(16), nullable=False),
    # Exact, in the counter's unit: a decimal, or n/d when it has no finite decimal expansion.
    sa.Column("value", ExactRational, nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.ForeignKeyConstraint(["contract_id", "activation_id"], ["activations.contract_id", "activations.id"]),
)

# ---- fees and refills ---------------------------------------------------------------------------

fee_applications = sa.Table(
    "fee_applications",
    metadata,
    sa.Column("contract_id", sa.String(128), primary_key=True),
    sa.Column("activation_id", sa.String(128), primary_key=True),
    sa.Column("fee", sa.String(128), primary_key=True),
    # The primary key is what applies a fee period once, whatever runs at the same time.
    sa.Column("period_start", UtcDateTime, primary_key=True),
    sa.Column("operation_id", sa.String(64), sa.ForeignKey("charging_operations.id"), nullable=False),
    sa.Column("amount", ExactDecimal, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
    # No foreign key to activations: a restore replaces a contract's activations and keeps this history.
)

refills = sa.Table(
    "refills",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("contract_id", sa.String(128), sa.ForeignKey("contracts.id"), nullable=False, index=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("operation_id", sa.String(64), sa.ForeignKey("charging_operations.id"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
)

# ---- batch rating: stored CDRs ----------------------------------------------------------------

CDR_HELD = "job_id IS NOT NULL"
"""The CDRs a job holds from its start."""
CDR_FREE = "job_id IS NULL"
"""The CDRs no job holds (pending unless they have an outcome)."""
CDR_STOPPED = "status IN ('failed', 'skipped')"
"""The outcomes of CDRs whose failure stopped their contract in a first-fail job, or that it skipped."""

cdrs = sa.Table(
    # Each stored CDR as imported; a rating job's chunk does not change it, but writes its outcome in ``cdr_outcomes``
    # (docs/batch.md, "A CDR's outcome, a row of its own"). A CDR without an outcome is pending.
    "cdrs",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("item_class", sa.String(128), nullable=False),
    sa.Column("consumption_date", UtcDateTime, nullable=False),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("imported_at", UtcDateTime, nullable=False),
    # Set only on a CDR a job holds from its start (a failed or skipped CDR it takes again, or a job started before
    # scopes): the job, the contract its access selects at its consumption date (none: no access) and the partition
    # of the job that holds it. The CDRs a job's scope covers are found free and carry none of it (docs/batch.md).
    sa.Column("job_id", sa.String(64), nullable=True),
    sa.Column("contract_id", sa.String(128), nullable=True),
    sa.Column("partition_key", sa.String(300), nullable=True),
    # The CDR's place in the store, increasing with each import: a job covers the CDRs up to its ``cdr_seq_max``.
    # PostgreSQL numbers the rows itself (a sequence, see migration 0026); on SQLite the import does, under
    # the database's one write lock.
    sa.Column("seq", sa.BigInteger, nullable=False, server_default=sa.FetchedValue()),
    # The CDRs a job holds, by partition; partial, so that an import writes no entry to it.
    sa.Index(
        "ix_cdrs_job_partition",
        "job_id",
        "partition_key",
        postgresql_where=sa.text(CDR_HELD),
        sqlite_where=sa.text(CDR_HELD),
    ),
    sa.Index("ix_cdrs_seq", "seq", unique=True),
    # The CDRs no job holds, by access: how a job's partition finds the CDRs of its contracts (those with an
    # outcome left out by it). Partial on PostgreSQL; on SQLite every CDR's (see kopek.store.cdr_store._free_of_partitions).
    # With ``seq``, so that the CDRs below a job's ``cdr_seq_min`` are passed over in the index itself.
    sa.Index(
        "ix_cdrs_free_by_access",
        "service_id",
        "user_id",
        "consumption_date",
        "seq",
        postgresql_where=sa.text(CDR_FREE),
    ),
)

cdr_free_floor = sa.Table(
    # One row (none until a job starts: the first CDR): every CDR numbered below ``seq`` has an outcome or is held by a
    # job. A job's start moves it up to the first free CDR (found from it by ``ix_cdrs_seq``); a cancel that gives
    # CDRs back lowers it to the first of them.
    # So a job looks for free CDRs only from there (``rating_jobs.cdr_seq_min``), however many were rated before.
    "cdr_free_floor",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

cdr_outcomes = sa.Table(
    # What rating a CDR came to, one row per rated CDR, appended by the chunk that rated it; a CDR rated again (a
    # failed or skipped CDR a later job takes) loses its outcome when that job starts and gets a new one.
    "cdr_outcomes",
    metadata,
    # The CDR, by its access and place in the store: ``seq`` alone is unique, and a CDR's service id and user id never
    # change, so this key allows one outcome per CDR. It leads with the access so that a chunk, which rates a partition's
    # CDRs access by access, enters its outcomes side by side in the key's index, and a partition's read looks them up
    # there in the same order; keyed by the CDR's id, they went all over an index that outgrows any cache
    # (docs/batch.md, "An outcome keyed by its CDR's access").
    sa.Column("service_id", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("job_id", sa.String(64), nullable=False),
    # The chunk of the rating job that rated it; its account operations name the same chunk.
    sa.Column("chunk_id", sa.String(80), nullable=True),
    # charged, failed or skipped.
    sa.Column("status", sa.String(16), nullable=False),
    # A charged CDR's operation id: what its charged items, counter journal entries and notifications name. A CDR's
    # charge has no row in charging_operations; this row is its record (docs/batch.md, "What a charged CDR leaves").
    sa.Column("operation_id", sa.String(64), nullable=True),
    # When a charged CDR was charged (as an operation's created_at).
    sa.Column("charged_at", UtcDateTime, nullable=True),
    sa.Column("error_category", sa.String(32), nullable=True),
    sa.Column("error_reason", sa.String(32), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    # The contract its access selected at its consumption date (none: no access), and the job's partition that held it.
    sa.Column("contract_id", sa.String(128), nullable=True),
    sa.Column("partition_key", sa.String(300), nullable=True),
    # A job's outcomes by status: its counts.
    sa.Index("ix_cdr_outcomes_job_status", "job_id", "status"),
    # A contract's charged CDRs, and its CDRs' operations by id: what a recharge reads of them. Partial: only charged
    # CDRs have an operation.
    sa.Index(
        "ix_cdr_outcomes_contract_operation",
        "contract_id",
        "operation_id",
        postgresql_where=sa.text("operation_id IS NOT NULL"),
        sqlite_where=sa.text("operation_id IS NOT NULL"),
    ),
    # The failed and skipped CDRs of a job by partition, with their contract: which contracts a first-fail chunk must
    # skip. Partial, so that asking costs what the failures are, not what the job has rated.
    sa.Index(
        "ix_cdr_outcomes_job_stopped",
        "job_id",
        "partition_key",
        "contract_id",
        postgresql_where=sa.text(CDR_STOPPED),
        sqlite_where=sa.text(CDR_STOPPED),
    ),
)

rating_jobs = sa.Table(
    "rating_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("filters", sa.Text, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("total", sa.Integer, nullable=False),
    # The job's scope (docs/batch.md, "How a job holds its CDRs"): the CDRs imported up to this ``cdrs.seq`` when it
    # started (null: a job started before scopes, whose CDRs all carry its id), and the jobs whose scopes it leaves
    # out (a JSON list of ids: those not ended when it started).
    sa.Column("cdr_seq_max", sa.BigInteger, nullable=True),
    # Every CDR numbered below it had an outcome or a job when the job started (``cdr_free_floor``): the job looks for
    # free CDRs from there (null: a job started before revision 0031, which looks from the first).
    sa.Column("cdr_seq_min", sa.BigInteger, nullable=True),
    sa.Column("overlapped_jobs", sa.Text, nullable=True),
)

rating_job_members = sa.Table(
    # What each partition of a job holds: a contract's CDRs (``contract_id``), or the CDRs of a service id and
    # user id that no access selects (``contract_id`` null). Written at the job's start, one row per contract.
    "rating_job_members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("rating_jobs.id"), nullable=False),
    sa.Column("partition_key", sa.String(300), nullable=False),
    sa.Column("contract_id", sa.String(128), nullable=True),
    sa.Column("service_id", sa.String(128), nullable=True),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Index("ix_rating_job_members_job_partition", "job_id", "partition_key"),
    sa.Index("ix_rating_job_members_job_contract", "job_id", "contract_id"),
    sa.Index("ix_rating_job_members_job_access", "job_id", "service_id", "user_id"),
)

rating_job_partitions = sa.Table(
    "rating_job_partitions",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("rating_jobs.id"), primary_key=True),
    sa.Column("partition_key", sa.String(300), primary_key=True),
    # ``open``, ``running`` (claimed by ``worker_id`` until ``lease_until``), ``done``, ``failed`` or ``cancelled``.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cdr_count", sa.Integer, nullable=False),
    sa.Column("worker_id", sa.String(128), nullable=True),
    sa.Column("claimed_at", UtcDateTime, nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index("ix_rating_job_partitions_job_status", "job_id", "status"),
)

rating_job_paths = sa.Table(
    # How many CDRs each committed chunk of a job handled on which path (``vectorized`` or ``row``) and, on the row
    # path, why (a code of ``kopek.batch.columnar_rating.FallbackReason``, with one example in words): appended in
    # the chunk's own transaction, so the counts are those of the committed CDRs; summed by the job's status.
    "rating_job_paths",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), sa.ForeignKey("rating_jobs.id"), nullable=False),
    sa.Column("path", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("cdr_count", sa.Integer, nullable=False),
    sa.Index("ix_rating_job_paths_job", "job_id"),
)

# ---- recharging: restoration points and recharges (docs/recharging.md) --------------------------

counter_journal = sa.Table(
    # The stored value of a counter before each charging operation changed it, in the order the changes were made:
    # what a restoration point is rebuilt from. ``kind`` is ``change`` (a counter row before the change; ``present``
    # false when there was none) or ``mark`` (the contract's counters were replaced wholesale, by a restore, or the
    # journal began: no restoration point reaches back past it). One row of kind ``pruned`` (contract id "") dates the
    # horizon: entries recorded before it may have been pruned.
    "counter_journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contract_id", sa.String(128), nullable=False),
    sa.Column("operation_id", sa.String(64), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("value", ExactRational, nullable=True),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_counter_journal_contract", "contract_id", "id"),
    sa.Index("ix_counter_journal_operation", "operation_id"),
    sa.Index("ix_counter_journal_recorded_at", "recorded_at"),
)

activation_journal = sa.Table(
    # Each change a fee run made to an activation, with the activation as it was before (``present`` false: it did not
    # exist yet), in the order the changes were made: what a restoration point rebuilds activations from.
    # ``effective_at`` is the consumption date of the change: the start of the fee period it charged (or could not
    # charge), else the fee run's until date. Pruned with the counter journal, past the same horizon.
    "activation_journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contract_id", sa.String(128), nullable=False),
    sa.Column("activation_id", sa.String(128), nullable=False),
    sa.Column("operation_id", sa.String(64), nullable=True),
    sa.Column("effective_at", UtcDateTime, nullable=False),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_activation_date", UtcDateTime, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_activation_journal_contract", "contract_id", "effective_at", "id"),
    sa.Index("ix_activation_journal_operation", "operation_id"),
    sa.Index("ix_activation_journal_recorded_at", "recorded_at"),
)

recharges = sa.Table(
    # One recharge of one contract: ``running`` from the lock of the contract until its commit (then ``done``) or its
    # failure (then ``failed``, the contract unlocked and unchanged). ``job_id``: the mass recharging job it is part of.
    "recharges",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("contract_id", sa.String(128), nullable=False, index=True),
    sa.Column("job_id", sa.String(64), nullable=True, index=True),
    sa.Column("from_date", UtcDateTime, nullable=False),
    sa.Column("catalog_version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
)

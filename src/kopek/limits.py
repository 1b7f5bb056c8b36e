"""Every bound on input, in one place; units last in the names.

Exceeding any of them is an ``INVALID`` error, never a crash or a slow request.
"""

from typing import Final

REQUEST_BODY_BYTES_MAX: Final = 1_048_576
ITEM_PROPERTIES_MAX: Final = 64
PROPERTY_NAME_CHARS_MAX: Final = 64
PROPERTY_STRING_CHARS_MAX: Final = 1_024
IDENTIFIER_CHARS_MAX: Final = 128
IDEMPOTENCY_KEY_CHARS_MAX: Final = 128
AUDIT_TEXT_CHARS_MAX: Final = 256
"""The longest actor, action or target an audit filter may name (the columns' width)."""
CATALOG_BYTES_MAX: Final = 16_777_216
CATALOG_NODE_DEPTH_MAX: Final = 32
MASTER_DATA_RECORDS_MAX: Final = 1_000_000
BULK_RECORDS_PER_REQUEST_MAX: Final = 10_000
DECIMAL_DIGITS_MAX: Final = 38
CURRENCY_DECIMALS_MAX: Final = 18
"""The most decimal places a catalog may declare for a currency's entered amounts."""
LIST_PAGE_SIZE_MAX: Final = 1_000
STORED_ID_MAX: Final = 2_147_483_647
"""The largest numeric id of a stored record (and so of a paging cursor): PostgreSQL's ``INTEGER``, the type of those columns."""
SESSION_TTL_MS_MIN: Final = 1_000
SESSION_TTL_MS_MAX: Final = 86_400_000
SESSION_QUOTA_STEPS_MAX: Final = 1_048_576
"""Without a requested quantity, a grant holds at most this many steps of its increment grid."""
SESSION_CLEANUP_BATCH_MAX: Final = 1_000
"""One clean-up pass resolves at most this many expired sessions."""
CONTRACT_STATES_BATCH_MAX: Final = 1_000
"""Contract states validated and written together by one step of a restore (and read by one page of an export)."""
CONTRACT_STATES_SELECTED_MAX: Final = 1_000
"""Contracts one export or migration lock request may name; more: export or lock all."""
CONTRACT_STATE_LINE_CHARS_MAX: Final = 1_048_576
CONTRACT_STATES_BODY_BYTES_MAX: Final = 67_108_864
"""The largest restore request body; larger migrations restore from a file with the CLI."""
RESTORE_FAILURES_REPORTED_MAX: Final = 1_000
"""A restore report lists at most this many failures; it always counts all of them."""
RATING_PATHS_KEPT_MAX: Final = 65_536
"""(contract, item class) pairs whose charges and counter keys a compiled catalog keeps between items; past it, it
starts afresh."""
ROUNDED_AMOUNTS_KEPT_MAX: Final = 4_096
"""Rounded amounts (as Decimals) one compiled charge keeps to give again."""
PREFIXES_KEPT_MAX: Final = 65_536
"""Leading digits (as long as a prefix table's longest prefix) whose longest matching prefix a compiled prefix table
keeps; past it, it looks the others up each time."""
SCHEDULE_EDGES_MAX: Final = 100_000
"""Window edges (and local midnights) one usage may cross in a ``schedule`` node: about a year of four edges a day."""
CDR_IMPORT_ROWS_PER_STEP: Final = 1_000
"""CDRs an import checks and writes together (one commit each unless the import is strict)."""
CDR_IMPORT_FAILURES_REPORTED_MAX: Final = 1_000
"""An import report lists at most this many refused rows; it always counts all of them."""
CATALOG_CONFLICT_CONTRACTS_SHOWN_MAX: Final = 20
"""A refused catalog load names at most this many contracts for each charge plan, counter or item class it drops."""
COUNTER_THRESHOLDS_MAX: Final = 64
"""Thresholds one counter of a charge plan may declare."""
PLAN_FEES_MAX: Final = 64
"""Fees one charge plan may declare."""
REFILL_BONUS_DAYS_MAX: Final = 3_660
"""The longest life of refill bonus units, in days (about ten years)."""
FEE_PERIODS_PER_CONTRACT_MAX: Final = 1_000
"""Fee periods one fee run applies to one contract; the rest waits for the next run."""
FEE_RUN_CONTRACTS_REPORTED_MAX: Final = 1_000
"""A fee run report lists at most this many contracts; it always counts all of them."""
ITEM_FILE_ROWS_MAX: Final = 1_000_000
"""An item file holds at most this many rows; an export rotates to a new file past its ``rows_per_file``."""
ITEM_FILE_ROWS_DEFAULT: Final = 100_000
"""The ``rows_per_file`` of an export that names none."""
RATING_JOB_CONTRACTS_MAX: Final = 1_000
"""Contracts one rating job's contract filter may name; more: start the job without it."""
NOTIFICATION_PUBLISH_BATCH_MAX: Final = 1_000
"""Notifications one publishing step reads, publishes and marks published together."""
NOTIFICATION_PUBLISH_BATCHES_PER_PASS_MAX: Final = 100
"""Batches one publishing pass handles; what is left waits for the next pass."""
NATS_NAME_CHARS_MAX: Final = 128
"""The longest NATS subject prefix or JetStream stream name the publisher accepts."""
PROTOCOL_MAPPING_RULES_MAX: Final = 1_000
"""Subscriber rules, and rating groups, one protocol mapping file may declare."""
PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX: Final = 64
"""Rating groups (Nchf multipleUnitUsage entries, Diameter Multiple-Services-Credit-Control AVPs) one request may carry."""
PROTOCOL_GRACE_SECONDS: Final = 60
"""A protocol grant stays reserved this long after its validity time, for the report that ends it to arrive."""
PROTOCOL_IDENTIFIER_CHARS_MAX: Final = 256
"""The longest subscriber identifier, notify URI part or Diameter Session-Id an adapter accepts."""
NCHF_NOTIFY_BATCH_MAX: Final = 100
"""Re-authorizations one notify pass sends; the rest waits for the next pass."""
NCHF_NOTIFY_TIMEOUT_SECONDS: Final = 5
"""How long a ChargingNotify request to a consumer may take before the pass gives up on it (retried next pass)."""
LEDGER_DIFFERENCES_REPORTED_MAX: Final = 1_000
"""A ledger verification lists at most this many differences; it always counts all of them."""
REQUEST_ID_CHARS_MAX: Final = 128
"""The longest ``X-Request-Id`` a client may give; a longer or odd one is replaced by a new id."""
SESSION_RETENTION_SECONDS_MAX: Final = 31_622_400
"""The longest an ended session may be kept before the clean-up removes it: a year (366 days)."""
CATALOG_DIFF_CHANGES_MAX: Final = 1_000
"""A catalog diff lists at most this many differences; it always counts all of them."""
RECHARGE_RETENTION_DAYS_MAX: Final = 3_660
"""The longest retention window of restoration points a database may be given: ten years."""
COUNTER_JOURNAL_PRUNE_BATCH_MAX: Final = 10_000
"""One pruning pass of the counter journal deletes at most this many entries, in one commit."""
RECHARGE_REFUSALS_REPORTED_MAX: Final = 100
"""A recharge lists at most this many items its new pricing refused; it always counts all of them."""
RECHARGE_JOB_CONTRACTS_MAX: Final = 100_000
"""The most contracts one mass recharging job takes; start more jobs for more."""

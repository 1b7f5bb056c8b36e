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
CATALOG_BYTES_MAX: Final = 16_777_216
CATALOG_NODE_DEPTH_MAX: Final = 32
MASTER_DATA_RECORDS_MAX: Final = 1_000_000
BULK_RECORDS_PER_REQUEST_MAX: Final = 10_000
DECIMAL_DIGITS_MAX: Final = 38
LIST_PAGE_SIZE_MAX: Final = 1_000

"""Errors a client can meet, as data: a category, an optional reason, a stable code.

The tree::

    KopekError                       category, reason?, code, message, details
    ├── InvalidError                 INVALID: bad request, property or catalog file
    ├── PrerequisiteMissingError     PREREQUISITE_MISSING: unknown class, no access
    ├── DoesNotExistError            DOES_NOT_EXIST: target missing
    ├── AlreadyExistsError           ALREADY_EXISTS: duplicate id or idempotency key
    ├── InvalidConfigurationError    INVALID_CONFIGURATION: catalog fault at rating time
    ├── IncompatibleConfigurationError INCOMPATIBLE_CONFIGURATION: e.g. currency mismatch
    ├── IllegalStateError            ILLEGAL_STATE: account or contract not chargeable
    ├── TemporaryIllegalStateError   TEMPORARY_ILLEGAL_STATE: retry later
    └── IllegalSystemStateError      ILLEGAL_SYSTEM_STATE: unexpected fault

Each code is explained in ``docs/errors.md``. When several checks fail for one
request, the order of the steps in :mod:`kopek.charging.offline` decides which
error is returned.

An error may have causes: the errors below it, outermost first. A ``KopekError``
raised ``from`` another carries it (and that one's causes) as its causes; ``causes=``
adds others. The wire shape lists them in ``causes``, each as ``{category, reason,
code, message}``: the error stack of the reference product, in the one error shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class Category(StrEnum):
    """The class of an error; decides the HTTP status and what the client should do."""

    INVALID = "INVALID"
    PREREQUISITE_MISSING = "PREREQUISITE_MISSING"
    DOES_NOT_EXIST = "DOES_NOT_EXIST"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_CONFIGURATION = "INVALID_CONFIGURATION"
    INCOMPATIBLE_CONFIGURATION = "INCOMPATIBLE_CONFIGURATION"
    ILLEGAL_STATE = "ILLEGAL_STATE"
    TEMPORARY_ILLEGAL_STATE = "TEMPORARY_ILLEGAL_STATE"
    ILLEGAL_SYSTEM_STATE = "ILLEGAL_SYSTEM_STATE"


class Reason(StrEnum):
    """Why master data refused a charge; present only on business refusals."""

    OUT_OF_VALIDITY_PERIOD = "OUT_OF_VALIDITY_PERIOD"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    ACCOUNT_BLOCKED = "ACCOUNT_BLOCKED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    CANNOT_CHARGE_ACCOUNT = "CANNOT_CHARGE_ACCOUNT"
    RECHARGING = "RECHARGING"


class Code(StrEnum):
    """Stable, sentence-like error codes. Never renamed once released."""

    # INVALID
    REQUEST_MALFORMED = "request_malformed"
    REQUEST_TOO_LARGE = "request_too_large"
    REQUEST_INVALID = "request_invalid"
    PROPERTY_MISSING = "property_missing"
    PROPERTY_INVALID = "property_invalid"
    PROPERTY_UNKNOWN = "property_unknown"
    QUANTITY_NEGATIVE = "quantity_negative"
    LIMIT_EXCEEDED = "limit_exceeded"
    CATALOG_INVALID = "catalog_invalid"
    MASTER_DATA_INVALID = "master_data_invalid"
    CONTRACT_STATE_INVALID = "contract_state_invalid"
    CONTRACT_ITEM_UNKNOWN = "contract_item_unknown"
    COUNTER_UNKNOWN = "counter_unknown"
    COUNTER_UNIT_MISMATCH = "counter_unit_mismatch"
    COUNTER_VALUE_NEGATIVE = "counter_value_negative"
    DATE_IN_THE_FUTURE = "date_in_the_future"
    CONTRACT_STATE_REPEATED = "contract_state_repeated"
    SHARED_COUNTER_DIFFERS = "shared_counter_differs_between_states"
    SESSION_TTL_OUT_OF_BOUNDS = "session_ttl_out_of_bounds"
    SESSION_QUANTITY_PROPERTY_MISMATCH = "session_quantity_property_is_not_the_item_quantity"
    ITEM_CLASS_WITHOUT_QUANTITY = "item_class_has_no_quantity"
    CDR_INVALID = "cdr_invalid"
    CDR_FILE_FORMAT_UNKNOWN = "cdr_file_format_unknown"
    REFILL_AMOUNT_OUT_OF_BOUNDS = "refill_amount_out_of_bounds"
    PROTOCOL_MAPPING_INVALID = "protocol_mapping_invalid"
    PROTOCOL_SEQUENCE_OUT_OF_ORDER = "protocol_sequence_out_of_order"
    AMOUNT_PLACES_EXCEED_CURRENCY = "amount_has_more_places_than_its_currency"
    DATABASE_URL_INVALID = "database_url_invalid"
    # PREREQUISITE_MISSING
    ITEM_CLASS_UNKNOWN = "item_class_unknown"
    ACCESS_NOT_FOUND = "access_not_found"
    CATALOG_NOT_LOADED = "catalog_not_loaded"
    CHARGE_PLAN_UNKNOWN = "charge_plan_unknown"
    ACCOUNT_ROLE_UNASSIGNED = "account_role_unassigned"
    REFILL_PLAN_UNKNOWN = "refill_plan_unknown"
    # DOES_NOT_EXIST / ALREADY_EXISTS
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused_with_different_item"
    REFILL_ID_REUSED = "refill_id_reused_with_different_request"
    # INVALID_CONFIGURATION / INCOMPATIBLE_CONFIGURATION
    DIVISION_BY_ZERO = "division_by_zero"
    NO_PRICE_FOR_VALUE = "no_price_for_value"
    CURRENCY_MISMATCH = "currency_mismatch"
    REFILL_ACCOUNT_NOT_PREPAID = "refill_account_is_not_prepaid"
    BONUS_COUNTER_NOT_IN_CONTRACT = "bonus_counter_not_in_contract"
    CATALOG_DROPS_WHAT_CONTRACTS_USE = "catalog_drops_what_contracts_use"
    # ILLEGAL_STATE
    CONTRACT_OUT_OF_VALIDITY = "contract_out_of_validity_period"
    CONTRACT_LOCKED = "contract_locked"
    ACCOUNT_BLOCKED = "account_blocked"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_CLOSED = "account_closed"
    INSUFFICIENT_BALANCE = "prepaid_balance_cannot_cover"
    CREDIT_LIMIT_REACHED = "postpaid_credit_limit_reached"
    SERVICE_NOT_ACCESSIBLE = "service_not_accessible"
    NO_CHARGE_FOR_ITEM_CLASS = "no_charge_for_item_class"
    CONTRACT_NOT_MIGRATING = "contract_not_migrating"
    RESTORATION_POINT_OUT_OF_REACH = "restoration_point_out_of_reach"
    RECHARGE_CROSSES_OTHER_CHANGES = "recharge_crosses_counter_changes_it_cannot_replay"
    RECHARGE_OF_SHARED_COUNTERS = "recharge_of_counters_other_contracts_share"
    CONTRACT_HAS_LIVE_SESSIONS = "contract_has_live_sessions"
    SESSION_ALREADY_ENDED = "session_already_ended"
    RESERVATION_OF_ANOTHER_ACCESS = "reservation_belongs_to_another_access"
    AUTHORIZATION_ALREADY_RESOLVED = "authorization_already_resolved"
    RATING_JOB_FINISHED = "rating_job_already_finished"
    API_KEY_MISSING = "api_key_missing"
    API_KEY_UNKNOWN = "api_key_unknown_or_revoked"
    API_KEY_ROLE_INSUFFICIENT = "api_key_role_insufficient"
    LAST_API_KEY = "api_key_is_the_last_active_one"
    NO_API_KEY_FOR_PUBLIC_ADDRESS = "no_api_key_for_a_public_address"
    # TEMPORARY_ILLEGAL_STATE
    CONTRACT_MIGRATING = "contract_migrating"
    STORAGE_BUSY = "storage_busy"
    NOTIFICATION_BROKER_UNREACHABLE = "notification_broker_unreachable"
    DATABASE_UNREACHABLE = "database_unreachable"
    # ILLEGAL_SYSTEM_STATE
    UNEXPECTED_FAULT = "unexpected_fault"
    ITEM_FILE_NOT_WRITTEN = "item_file_could_not_be_written"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One precise fault: where (a path into the request or file) and what."""

    message: str
    location: tuple[str | int, ...] = ()
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "location": list(self.location), "code": self.code}


@dataclass(eq=False)
class KopekError(Exception):
    """Base of every error a client can meet."""

    category: ClassVar[Category] = Category.ILLEGAL_SYSTEM_STATE
    code: Code
    message: str
    reason: Reason | None = None
    details: tuple[ErrorDetail, ...] = ()
    notifications: tuple[Any, ...] = field(default=())
    retry_after_seconds: int | None = None
    causes: tuple[KopekError, ...] = ()
    """Errors below this one that it does not raise ``from`` (those it does are found by :meth:`cause_chain`)."""

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return f"{self.category}/{self.code}: {self.message}"

    def restated(self, message: str) -> KopekError:
        """This error (its class, code, reason and details) told from an outer step, in ``message``; raise it ``from``
        this one, which then stands below it as its cause."""
        return type(self)(
            code=self.code, message=message, reason=self.reason, details=self.details, retry_after_seconds=self.retry_after_seconds
        )

    def cause_chain(self) -> list[KopekError]:
        """The errors below this one, outermost first: those given as ``causes``, then the ``KopekError`` it was raised
        from (``raise ... from``), each followed by its own causes. Other exceptions (a database's, a driver's) are not
        part of it: they may tell internals, and are logged instead."""
        chain: list[KopekError] = []
        seen = {id(self)}
        pending: list[BaseException | None] = [*self.causes, self.__cause__]
        while pending:
            below = pending.pop(0)
            if below is None or id(below) in seen:
                continue
            seen.add(id(below))
            if isinstance(below, KopekError):
                chain.append(below)
                pending[:0] = [*below.causes, below.__cause__]
            else:
                pending.insert(0, below.__cause__)
        return chain

    def as_dict(self) -> dict[str, Any]:
        """The one wire shape of an error, its cause chain in ``causes``."""
        return {
            "category": self.category.value,
            "reason": self.reason.value if self.reason else None,
            "code": self.code.value,
            "message": self.message,
            "details": [detail.as_dict() for detail in self.details],
            "causes": [cause.as_cause() for cause in self.cause_chain()],
        }

    def as_cause(self) -> dict[str, Any]:
        """This error as one entry of another's ``causes``."""
        return {
            "category": self.category.value,
            "reason": self.reason.value if self.reason else None,
            "code": self.code.value,
            "message": self.message,
        }


class InvalidError(KopekError):
    category = Category.INVALID


class PrerequisiteMissingError(KopekError):
    category = Category.PREREQUISITE_MISSING


class DoesNotExistError(KopekError):
    category = Category.DOES_NOT_EXIST


class AlreadyExistsError(KopekError):
    category = Category.ALREADY_EXISTS


class InvalidConfigurationError(KopekError):
    category = Category.INVALID_CONFIGURATION


class IncompatibleConfigurationError(KopekError):
    category = Category.INCOMPATIBLE_CONFIGURATION


class IllegalStateError(KopekError):
    category = Category.ILLEGAL_STATE


class TemporaryIllegalStateError(KopekError):
    category = Category.TEMPORARY_ILLEGAL_STATE


class IllegalSystemStateError(KopekError):
    category = Category.ILLEGAL_SYSTEM_STATE


HTTP_STATUS_BY_CATEGORY: dict[Category, int] = {
    Category.INVALID: 422,
    Category.PREREQUISITE_MISSING: 404,
    Category.DOES_NOT_EXIST: 404,
    Category.ALREADY_EXISTS: 409,
    Category.INVALID_CONFIGURATION: 422,
    Category.INCOMPATIBLE_CONFIGURATION: 422,
    Category.ILLEGAL_STATE: 409,
    Category.TEMPORARY_ILLEGAL_STATE: 503,
    Category.ILLEGAL_SYSTEM_STATE: 500,
}
"""HTTP status per category; INVALID errors about the body's syntax or size answer 400."""

BAD_REQUEST_CODES: frozenset[Code] = frozenset({Code.REQUEST_MALFORMED, Code.REQUEST_TOO_LARGE})


UNAUTHENTICATED_CODES: frozenset[Code] = frozenset({Code.API_KEY_MISSING, Code.API_KEY_UNKNOWN})


def http_status(error: KopekError) -> int:
    """The HTTP status for ``error``: 400 for unreadable requests, 401 / 403 for a missing or
    unknown API key / one whose role does not allow the request, else by category."""
    if error.category is Category.INVALID and error.code in BAD_REQUEST_CODES:
        return 400
    if error.code in UNAUTHENTICATED_CODES:
        return 401
    if error.code is Code.API_KEY_ROLE_INSUFFICIENT:
        return 403
    return HTTP_STATUS_BY_CATEGORY[error.category]

"""What a protocol adapter answers, before its protocol encodes it: one result per rating group.

The result codes are those of TS 32.291 (``ResultCode``); the Diameter adapter writes each as its
RFC 4006 Result-Code (docs/protocols.md, "Result codes").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from kopek.errors import Category, Code, KopekError, Reason
from kopek.protocols.mapping import FinalUnitRule, UnitKind


class ResultCode(StrEnum):
    """The outcome for one rating group."""

    SUCCESS = "SUCCESS"
    END_USER_SERVICE_DENIED = "END_USER_SERVICE_DENIED"
    """The subscriber may not use the service now: account blocked, contract locked or out of validity, not authorized."""
    QUOTA_MANAGEMENT_NOT_APPLICABLE = "QUOTA_MANAGEMENT_NOT_APPLICABLE"
    """The rating group is not credit-controlled: the service goes on without a quota."""
    QUOTA_LIMIT_REACHED = "QUOTA_LIMIT_REACHED"
    """The money cannot buy one more unit."""
    USER_UNKNOWN = "USER_UNKNOWN"
    """No access for the subscriber (and the rating group's service) at the date."""
    RATING_FAILED = "RATING_FAILED"
    """The rating group is not in the mapping, or the catalog cannot price its item."""


_QUOTA_CODES = frozenset({Code.INSUFFICIENT_BALANCE.value, Code.CREDIT_LIMIT_REACHED.value})


def result_code_of(error: KopekError) -> ResultCode:
    """The result code of a refused session command (a TEMPORARY_ILLEGAL_STATE is never one: the request is retried)."""
    if error.code is Code.ACCESS_NOT_FOUND:
        return ResultCode.USER_UNKNOWN
    if error.reason is Reason.CANNOT_CHARGE_ACCOUNT or error.code.value in _QUOTA_CODES:
        return ResultCode.QUOTA_LIMIT_REACHED
    if error.category is Category.ILLEGAL_STATE:
        return ResultCode.END_USER_SERVICE_DENIED
    return ResultCode.RATING_FAILED


def refusal_code(grant_refusal: str) -> ResultCode:
    """The result code of a zero grant, from the code that explains it."""
    return ResultCode.QUOTA_LIMIT_REACHED if grant_refusal in _QUOTA_CODES else ResultCode.END_USER_SERVICE_DENIED


@dataclass(frozen=True, slots=True)
class UnitReport:
    """One rating group in a request: usage since its last grant (in its unit's base: seconds, bytes, events), and the
    quota it asks for (``requested`` none: it asks for none; ``quota_wanted`` with no size: the mapping's default)."""

    rating_group: int
    used: Decimal = Decimal(0)
    quota_wanted: bool = False
    requested: Decimal | None = None


class RatingGroupAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rating_group: int
    result_code: ResultCode
    unit: UnitKind | None = None
    granted: Decimal | None = None
    """Absent when no quota was asked for or none was granted."""
    validity_time_seconds: int | None = None
    quota_threshold: Decimal | None = None
    final_unit: FinalUnitRule | None = None
    """Set on the last grant the money allows, and on a refusal for lack of money."""
    message: str | None = None


class ExchangeAnswer(BaseModel):
    """The answer to one request of a protocol session; stored, so that a retransmission answers the same."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session: str
    sequence: int
    answered_at: datetime
    rating_groups: list[RatingGroupAnswer] = []
    amount: Decimal | None = None
    """A price enquiry's amount, or a direct debit's or refund's."""
    currency: str | None = None
    replayed: bool = False


def request_digest(fields: object) -> str:
    """A digest of what identifies a request, to tell a retransmission from a different request with the same number."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()

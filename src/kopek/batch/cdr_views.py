"""How a stored CDR reads from outside: its item, status and, once rated, its outcome."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class CdrView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "cdr-0002",
                    "item_class": "voice_call",
                    "consumption_date": "2026-06-01T10:00:00Z",
                    "service_id": "mobile",
                    "user_id": "bob-msisdn",
                    "properties": {"destination": "999123", "duration": "30"},
                    "status": "failed",
                    "imported_at": "2026-06-01T12:00:00Z",
                    "job_id": "job-5e5709070149599dabd733b5e3f135ae",
                    "operation_id": None,
                    "error_category": "ILLEGAL_STATE",
                    "error_reason": "NOT_AUTHORIZED",
                    "error_code": "service_not_accessible",
                    "error_message": "premium numbers are barred",
                    "chunk_id": "job-5e5709070149599dabd733b5e3f135ae/9d1c0a4e52b7f3a86e0f21c4d5b6a7e8",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The CDR's id, unique in the store."""
    item_class: str
    """A chargeable item class of the catalog, e.g. voice_call."""
    consumption_date: datetime
    """When the service was used (ISO 8601 with an offset)."""
    service_id: str
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: str
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    properties: dict[str, Any]
    """Property values by name; decimals as strings."""
    status: str
    """``pending`` (not rated yet), ``charged``, ``failed`` or ``skipped``."""
    imported_at: datetime
    """When it was imported."""
    job_id: str | None
    """The rating job that holds or rated it; null until a job takes it."""
    operation_id: str | None
    """The charging operation of a charged CDR."""
    error_category: str | None
    """The error category of a failed CDR."""
    error_reason: str | None
    """The business reason of a failed CDR; null when none."""
    error_code: str | None
    """The error code of a failed or skipped CDR."""
    error_message: str | None
    """The error message of a failed CDR."""
    chunk_id: str | None = None
    """The chunk of the rating job that rated it: its charged items and its balances' account operations name it."""


def cdr_view(row: dict[str, Any]) -> CdrView:
    return CdrView.model_validate(row | {"properties": json.loads(row["properties"])})

"""How a stored CDR reads from outside: its item, status and, once rated, its outcome."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CdrView(BaseModel):
    id: str
    item_class: str
    consumption_date: datetime
    service_id: str
    user_id: str
    properties: dict[str, Any]
    status: str
    """``pending`` (not rated yet), ``charged``, ``failed`` or ``skipped``."""
    imported_at: datetime
    job_id: str | None
    operation_id: str | None
    error_category: str | None
    error_reason: str | None
    error_code: str | None
    error_message: str | None


def cdr_view(row: dict[str, Any]) -> CdrView:
    return CdrView.model_validate(row | {"properties": json.loads(row["properties"])})

"""The audit log as clients read it: who did what to which target, when, and how it ended (docs/security.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditRecord(BaseModel):
    """One administrative or money-creating operation, or a refused attempt at one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "at": "2026-06-01T12:00:00Z",
                    "actor": "system",
                    "action": "catalog.load",
                    "target": "catalog/1",
                    "outcome": "succeeded",
                    "details": {"charge_plans": 1, "item_classes": 4, "source": "request"},
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
    )

    id: int = Field(description="Increasing; the cursor of the next page (after_id).")
    at: datetime
    """When the operation was made."""
    actor: str = Field(description="api-key:<name>, api (the API served open), cli:<user>, system, or what a Python caller passed.")
    action: str = Field(description="What was done, e.g. account.adjust, refill.apply, fees.run, catalog.load.")
    target: str = Field(description="What it was done to, e.g. account/alice-prepaid, contract/c-1, catalog/3.")
    outcome: Literal["succeeded", "refused"]
    """succeeded, or refused (the error's category and code are in details)."""
    details: dict[str, Any] = Field(description="The operation's parameters and counts; a refusal's error category and code.")

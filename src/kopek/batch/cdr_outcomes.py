"""The outcome columns a rating job writes on a CDR."""

from __future__ import annotations

from typing import Any

from kopek.errors import KopekError


def refusal(error: KopekError) -> dict[str, Any]:
    """A CDR's outcome columns when charging it was refused."""
    return {
        "status": "failed",
        "error_category": error.category.value,
        "error_reason": error.reason.value if error.reason else None,
        "error_code": error.code.value,
        "error_message": error.message,
    }

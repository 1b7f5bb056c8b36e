"""The sources of time and identity that the shell passes to use cases (never read inside the core)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
IdSource = Callable[[], str]


def system_clock() -> datetime:
    """The current instant, time-zone aware (UTC)."""
    return datetime.now(UTC)


def random_ids() -> str:
    """A new random identifier (UUID 4, hex)."""
    return uuid.uuid4().hex

"""Ended sessions removed after a retention: the clean-up's second half (docs/sessions.md, Expiry clean-up).

A session that stopped, was cancelled or expired stays readable (with its impacts and the
answers kept for its idempotency keys) for ``retention_seconds`` after it ended; the next
clean-up pass after that removes it. Its charging operations, charged items and account
operations stay: they are the ledger, and still name the session. A session that an open
protocol session (Nchf, Gy) still names is kept until that one closes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from kopek import limits
from kopek.charging.offline import ChargingContext
from kopek.errors import Code, ErrorDetail, InvalidError
from kopek.store.uow import UnitOfWork

SESSION_RETENTION_SECONDS_DEFAULT: Final = 86_400
"""How long an ended session is kept when nothing else is said: a day, to read it and to answer late retries."""


def check_retention(retention_seconds: int) -> int:
    """``retention_seconds`` when it is 0 to ``SESSION_RETENTION_SECONDS_MAX``; else INVALID."""
    if not 0 <= retention_seconds <= limits.SESSION_RETENTION_SECONDS_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED,
            message=f"a session retention is 0 to {limits.SESSION_RETENTION_SECONDS_MAX} seconds, not {retention_seconds}",
            details=(ErrorDetail("out of bounds", ("retention_seconds",), Code.LIMIT_EXCEEDED),),
        )
    return retention_seconds


def remove_ended_sessions(context: ChargingContext, *, retention_seconds: int, limit: int = limits.SESSION_CLEANUP_BATCH_MAX) -> int:
    """Remove up to ``limit`` sessions that ended at least ``retention_seconds`` ago, oldest first, in one commit; how many.

    Several processes may run it at once: each deletes only what is still there."""
    cutoff = context.clock() - timedelta(seconds=check_retention(retention_seconds))
    with UnitOfWork(context.engine) as uow:
        removed = uow.sessions.remove(uow.sessions.ended_before(cutoff, limit=limit))
        uow.commit()
    return removed

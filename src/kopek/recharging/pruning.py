"""Pruning the counter journal past the retention window of restoration points.

A restoration point is refused further back than the retention window, so what the journal
holds from before it serves nothing: a pass deletes a bounded number of the oldest such entries
in one commit and raises the journal's horizon (docs/recharging.md, Retention). The server's
clean-up loop runs a pass each time it runs; ``kopek counter-journal prune`` runs passes until
nothing is left to prune.
"""

from __future__ import annotations

from datetime import timedelta

from kopek import limits
from kopek.charging.offline import ChargingContext
from kopek.recharging.views import JournalPruning
from kopek.store.uow import UnitOfWork


def prune_counter_journal(
    context: ChargingContext, *, retention_days: int, limit: int = limits.COUNTER_JOURNAL_PRUNE_BATCH_MAX
) -> JournalPruning:
    """Delete up to ``limit`` journal entries recorded before the retention window, in one commit."""
    assert 1 <= limit <= limits.COUNTER_JOURNAL_PRUNE_BATCH_MAX, "a pruning pass is bounded"
    horizon = context.clock() - timedelta(days=retention_days)
    with UnitOfWork(context.engine) as uow:
        deleted = uow.counter_journal.prune(horizon, limit=limit)
        uow.commit()
    return JournalPruning(deleted=deleted, horizon=horizon, more=deleted == limit)

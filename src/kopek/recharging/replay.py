"""What charging a recharge's items again gives, whichever path priced them: their charged items, the counters after
them and the journal of their changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kopek.domain.item import TypedItem
from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey
from kopek.rating.state import CounterLife
from kopek.recharging.restoration import Replayed
from kopek.recharging.views import RefusedItem
from kopek.store.counter_journal_store import StoredValue, journaled


@dataclass(slots=True)
class Replay:
    """Every item charged again: its charged items with their payers (or its refusal), the counters after all of them,
    and the journal of their changes."""

    charged: dict[str, tuple[TypedItem, list[tuple[ChargedItem, str]]]] = field(default_factory=dict)
    refused: list[RefusedItem] = field(default_factory=list)
    counters: dict[CounterKey, StoredValue] = field(default_factory=dict)
    journal: list[tuple[str | None, datetime, CounterKey, str, StoredValue | None]] = field(default_factory=list)


def apply_changes(replay: Replay, operation: Replayed, changes: Sequence[CounterChange]) -> None:
    """Journal ``changes`` (those of stored counters) with the rows they replace, and keep the rows they leave."""
    for change in changes:
        if journaled(change):
            replay.journal.append(
                (operation.operation_id, operation.created_at, change.key, change.unit.value, replay.counters.get(change.key))
            )
            replay.counters[change.key] = StoredValue(change.unit.value, change.after, CounterLife(change.period_start, change.expires_at))

"""Counters after a chunk priced column-wise: the moves of :mod:`kopek.rating.columnar`, item after item.

The row path adds each item's move to a counter exactly (``quantity / factor`` as an exact
fraction) from the value the counter holds in the item's reset period, stores a change
when the value moves or the counter enters a new period, and notifies each threshold the
change crosses. This module gives the same changes, in the same order, from the frame's
columns: the reset period of each item (``e:NAME``), the value when it started
(``c0:NAME``), the stored counter it moves (``o:NAME``), each item's move (``m:NAME``), whether the item reads or writes the counter
(``t:NAME``) and whether it used an allowance up (``u:NAME``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import polars as pl

from kopek.domain.catalog import CounterSpec, CounterThreshold
from kopek.domain.outcome import CounterChange, CounterKey, Notification
from kopek.money import Exact, ratio
from kopek.rating.columnar import counter_window
from kopek.rating.compiled import thresholds_crossed

NO_PERIOD: Final = -1
"""The ``e:NAME`` key of a counter without reset periods."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def period_key(start: datetime | None) -> int:
    """The Int64 key of a reset period starting at ``start`` (microseconds since 1970, UTC; ``NO_PERIOD`` for none)."""
    return NO_PERIOD if start is None else (start - _EPOCH) // timedelta(microseconds=1)


def period_of_key(key: int) -> datetime | None:
    return None if key == NO_PERIOD else _EPOCH + timedelta(microseconds=key)


@dataclass(frozen=True, slots=True)
class StoredCounter:
    """A counter of a contract before the chunk: where it lives, its spec, the base factor of its unit, its initial
    value in base units, and its stored value in base units with its period (``stored`` none: nothing stored)."""

    key: CounterKey
    spec: CounterSpec
    factor: int
    initial: int
    stored: int | None
    period: int = NO_PERIOD
    thresholds: tuple[tuple[CounterThreshold, Exact], ...] = field(default=())

    def start_value(self, period: int) -> int:
        """The value in base units when the period keyed ``period`` starts: the stored value in its own period."""
        return self.stored if self.stored is not None and period == self.period else self.initial


@dataclass(frozen=True, slots=True)
class CounterMoves:
    """What a chunk did to counters: every change, item after item with the item's row (``journal``), the last change of
    each counter (``changes``, what is stored) and the thresholds each item crossed (by row)."""

    journal: list[tuple[int, CounterChange]]
    changes: dict[CounterKey, CounterChange]
    crossings: dict[int, list[Notification]]


def counter_moves(charged: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter]) -> CounterMoves:
    """The counter changes of the ``charged`` items (in charging order), as the row path makes them one item at a time."""
    names = sorted(column[2:] for column in charged.columns if column.startswith("t:"))
    if not names or charged.height == 0:
        return CounterMoves([], {}, {})
    touched = pl.any_horizontal([pl.col(f"t:{name}").fill_null(value=False) for name in names])
    frame = charged.sort("row").with_columns(_before(charged, name) for name in names).filter(touched)
    columns = ["row", "contract_id", *(f"{kind}:{name}" for name in names for kind in ("t", "b", "m", "u", "e"))]
    # Per stored counter (a parent's or a shared one is moved by the items of several contracts).
    state = {counter.key: (counter.stored is not None, counter.period) for counter in counters.values()}
    journal: list[tuple[int, CounterChange]] = []
    crossings: dict[int, list[Notification]] = {}
    for record in frame.select(_present(frame, columns)).iter_rows(named=True):
        found = []
        for name in names:
            where = (record["contract_id"], name)
            counter = counters.get(where)
            if counter is None or not record[f"t:{name}"]:
                continue
            before = record[f"b:{name}"]
            after = 0 if record.get(f"u:{name}") else before + (record.get(f"m:{name}") or 0)
            period = record[f"e:{name}"]
            present, stored_period = state[counter.key]
            if after == before and (not present or period == stored_period):
                continue  # As the row path: neither a new value nor a new period to store.
            state[counter.key] = (True, period)
            found.append((counter, before, after, period))
        found.sort(key=lambda entry: entry[0].key)
        for counter, before, after, period in found:
            change = CounterChange(
                counter.key, counter.spec.unit, ratio(before, counter.factor), ratio(after, counter.factor), period_of_key(period), None
            )
            journal.append((record["row"], change))
            if counter.thresholds:
                crossed = thresholds_crossed(counter.key, counter.thresholds, before, after)
                if crossed:
                    crossings.setdefault(record["row"], []).extend(crossed)
    return CounterMoves(journal, {change.key: change for _, change in journal}, crossings)


def _before(charged: pl.DataFrame, name: str) -> pl.Expr:
    """Counter ``name``'s value before each item, in base units: its period's start value plus the earlier moves of its
    owner in it."""
    move = pl.col(f"m:{name}").fill_null(0) if f"m:{name}" in charged.columns else pl.lit(0, pl.Int128)
    earlier = move.cum_sum().over(counter_window(name)) - move
    return (pl.col(f"c0:{name}") + earlier).alias(f"b:{name}")


def _present(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    return [column for column in columns if column in frame.columns]

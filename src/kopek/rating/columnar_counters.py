"""Counters after a chunk priced column-wise: the moves of :mod:`kopek.rating.columnar` summed per contract.

The row path adds each item's move to a counter exactly (``quantity / factor`` as an exact
fraction), so the value after a chunk is the exact total, the same whatever the order of the
additions; an allowance used up leaves exactly zero. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact, ExactInput, exact, ratio
from kopek.rating.columnar import ColumnarPlan


@dataclass(frozen=True, slots=True)
class StoredCounter:
    """A counter of a contract before the chunk: where it lives, its value (stored, or the initial value), that value
    in base units and its unit's base factor."""

    key: CounterKey
    stored: ExactInput
    base: int
    factor: int


def counter_changes(
    charged: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter], compiled: Mapping[tuple[str, str], ColumnarPlan]
) -> list[CounterChange]:
    """Each counter a chunk of ``charged`` items moved (their ``m:NAME`` and ``u:NAME`` columns): its value before the
    chunk and after it, exactly."""
    moves = [column for column in charged.columns if column.startswith("m:")]
    flags = [column for column in charged.columns if column.startswith("u:")]
    if not moves or charged.height == 0:
        return []
    specs = {name: spec for program in compiled.values() for name, spec in program.counters.items()}
    totals = charged.group_by("contract_id").agg(
        [pl.col(column).fill_null(0).sum() for column in moves] + [pl.col(column).fill_null(value=False).any() for column in flags]
    )
    changes = []
    for record in totals.iter_rows(named=True):
        for column in moves:
            name = column[2:]
            counter = counters.get((record["contract_id"], name))
            move = record[column]
            if counter is None or not move:
                continue
            before = exact(counter.stored)
            after = 0 if record.get(f"u:{name}") else before + ratio(move, counter.factor)
            if after != before:
                changes.append(CounterChange(counter.key, specs[name].unit, before, after, None, None))
    return changes


def counter_changes_by_item(
    charged: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter], compiled: Mapping[tuple[str, str], ColumnarPlan]
) -> list[tuple[str, CounterChange]]:
    """Each counter move of each item of ``charged`` (in charging order), with the item's ``operation_id``: the value
    before the item and after it, exactly, as the row path would journal them one item at a time."""
    moves = [column for column in charged.columns if column.startswith("m:")]
    if not moves or charged.height == 0:
        return []
    specs = {name: spec for program in compiled.values() for name, spec in program.counters.items()}
    running: dict[tuple[str, str], Exact] = {}
    changes = []
    flags = [f"u:{column[2:]}" for column in moves if f"u:{column[2:]}" in charged.columns]
    for record in charged.select(["operation_id", "contract_id", *moves, *flags]).iter_rows(named=True):
        for column in moves:
            name = column[2:]
            counter = counters.get((record["contract_id"], name))
            move = record[column]
            if counter is None or not move:
                continue
            where = (record["contract_id"], name)
            before = running.get(where, exact(counter.stored))
            after = 0 if record.get(f"u:{name}") else before + ratio(move, counter.factor)
            running[where] = after
            if after != before:
                changes.append((record["operation_id"], CounterChange(counter.key, specs[name].unit, before, after, None, None)))
    return changes

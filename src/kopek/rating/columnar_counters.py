"""Counters after a chunk priced column-wise: the moves of :mod:`kopek.rating.columnar` summed per contract.

The row path adds each item's move to a counter as a ``Decimal`` (``quantity / factor``);
a sum keeps the most decimal places of its terms, so the value stored after a chunk is
the exact total written with the places the largest of those terms had. An allowance
used up leaves exactly zero. Pure: no I/O.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from kopek.money import rating_context
from kopek.rating.columnar import ColumnarPlan, power_of_ten_factor
from kopek.rating.columnar_postings import scale_of
from kopek.rating.outcome import CounterChange, CounterKey


@dataclass(frozen=True, slots=True)
class StoredCounter:
    """A counter of a contract before the chunk: where it lives, its value (stored, or the initial value), that value
    in base units and its unit's base factor."""

    key: CounterKey
    stored: Decimal
    base: int
    factor: int


def counter_changes(
    charged: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter], compiled: Mapping[tuple[str, str], ColumnarPlan]
) -> list[CounterChange]:
    """Each counter a chunk of ``charged`` items moved (their ``m:NAME`` and ``u:NAME`` columns): its value before the
    chunk and after it, with the decimal places the row path's additions give it."""
    moves = [column for column in charged.columns if column.startswith("m:")]
    flags = [column for column in charged.columns if column.startswith("u:")]
    if not moves or charged.height == 0:
        return []
    specs = {name: spec for program in compiled.values() for name, spec in program.counters.items()}
    totals = charged.group_by("contract_id").agg(
        [pl.col(column).fill_null(0).sum() for column in moves]
        + [pl.col(column).fill_null(value=False).any() for column in flags]
        + [
            _places(pl.col(column).fill_null(0), power_of_ten_factor(specs[column[2:]].unit)).max().alias(f"places:{column[2:]}")
            for column in moves
        ]
    )
    changes = []
    with decimal.localcontext(rating_context()):
        for record in totals.iter_rows(named=True):
            for column in moves:
                name = column[2:]
                counter = counters.get((record["contract_id"], name))
                move = record[column]
                if counter is None or not move:
                    continue
                used_up = bool(record.get(f"u:{name}"))
                places = max(record[f"places:{name}"] or 0, scale_of(counter.stored))
                after = Decimal(0) if used_up else (counter.stored + Decimal(move) / counter.factor).quantize(Decimal(1).scaleb(-places))
                if after != counter.stored:
                    changes.append(CounterChange(counter.key, specs[name].unit, counter.stored, after, None, None))
    return changes


def _places(move: pl.Expr, factor: int) -> pl.Expr:
    """The decimal places of ``move / factor`` as the row path writes a counter update (``Decimal`` division keeps the
    exponent 0 when the quotient is whole, else just the places it needs); a sum keeps the most places of its terms."""
    digits = len(str(factor)) - 1
    if digits == 0:
        return pl.lit(0, pl.Int32)
    size = move.abs()
    whole_tens = pl.sum_horizontal([(size % (10**power) == 0).cast(pl.Int32) for power in range(1, digits + 1)])
    return pl.when(move != 0).then(digits - whole_tens).otherwise(0)

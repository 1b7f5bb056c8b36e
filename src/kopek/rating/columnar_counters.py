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


MOVES_SCHEMA: Final = {"row": pl.Int64, "slot": pl.Int64, "before": pl.Int128, "after": pl.Int128, "period": pl.Int64}
"""The columns of :attr:`CounterMoves.moves`."""


@dataclass(frozen=True, slots=True)
class CounterMoves:
    """What a chunk did to counters: every change, item after item (``moves``: the item's ``row``, the counter's
    ``slot`` in ``counters``, its value ``before`` and ``after`` the item in base units and the ``period`` key), the last
    change of each counter (``changes``, what is stored) and the thresholds each item crossed (by row)."""

    moves: pl.DataFrame
    counters: tuple[StoredCounter, ...]
    """The chunk's counters in key order: a move's ``slot`` is its place here."""
    changes: dict[CounterKey, CounterChange]
    crossings: dict[int, list[Notification]]

    @property
    def journal(self) -> list[tuple[int, CounterChange]]:
        """Every change as the row path makes it, with its item's row, in order (item after item, each item's
        counters in key order)."""
        counters = self.counters
        return [
            (row, _change(counters[slot], before, after, period))
            for row, slot, before, after, period in self.moves.select(*MOVES_SCHEMA).iter_rows()
        ]


def counter_moves(charged: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter]) -> CounterMoves:
    """The counter changes of the ``charged`` items (in charging order), as the row path makes them one item at a time.

    The row path stores a change when an item moves a counter's value, or when the counter is stored already (or an
    earlier item of the chunk changed it) and the item falls in another reset period than the counter's last stored
    one. That last stored period is always the period of the counter's previous item (or the stored period, for its
    first): an item it skipped had moved nothing and was in that same period. So each move is decided from its own
    row and the one before it, column-wise."""
    names = sorted(column[2:] for column in charged.columns if column.startswith("t:"))
    by_key = {counter.key: counter for counter in counters.values()}
    ordered = tuple(by_key[key] for key in sorted(by_key))
    if not names or charged.height == 0 or not ordered:
        return CounterMoves(pl.DataFrame(schema=MOVES_SCHEMA), ordered, {}, {})
    slot_of = {counter.key: slot for slot, counter in enumerate(ordered)}
    frame = charged.sort("row").with_columns(_before(charged, name) for name in names)
    parts = []
    for name in names:
        slots = {contract_id: slot_of[counter.key] for (contract_id, of), counter in counters.items() if of == name}
        if not slots:
            continue
        before = pl.col(f"b:{name}").cast(pl.Int128)
        move = pl.col(f"m:{name}").fill_null(0).cast(pl.Int128) if f"m:{name}" in frame.columns else pl.lit(0, pl.Int128)
        used = pl.col(f"u:{name}").fill_null(value=False) if f"u:{name}" in frame.columns else pl.lit(value=False)
        touched = pl.col(f"t:{name}").fill_null(value=False) & pl.col("contract_id").is_in(list(slots))
        parts.append(
            frame.filter(touched).select(
                pl.col("row").cast(pl.Int64),
                pl.col("contract_id").replace_strict(slots, return_dtype=pl.Int64).alias("slot"),
                before.alias("before"),
                pl.when(used).then(pl.lit(0, pl.Int128)).otherwise(before + move).alias("after"),
                pl.col(f"e:{name}").cast(pl.Int64).alias("period"),
            )
        )
    if not parts:
        return CounterMoves(pl.DataFrame(schema=MOVES_SCHEMA), ordered, {}, {})
    start = pl.DataFrame(
        {"slot": range(len(ordered)), "stored": [c.stored is not None for c in ordered], "stored_period": [c.period for c in ordered]},
        schema={"slot": pl.Int64, "stored": pl.Boolean, "stored_period": pl.Int64},
    )
    moved = pl.col("after") != pl.col("before")
    earlier_moved = (moved.cast(pl.Int64).cum_sum() - moved.cast(pl.Int64)).over("slot") > 0
    previous_period = pl.col("period").shift(1).over("slot").fill_null(pl.col("stored_period"))
    moves = (
        pl.concat(parts, how="vertical")
        .join(start, on="slot", how="left")
        .sort("slot", "row")  # the windows below run over each counter's items in order
        .filter(moved | ((pl.col("stored") | earlier_moved) & (pl.col("period") != previous_period)))
        .select(*MOVES_SCHEMA)
        .sort("row", "slot")
    )
    # As the row path keeps them: each counter's last change, the counters in the order of their first change.
    last = {slot: values for _, slot, *values in moves.unique("slot", keep="last", maintain_order=True).iter_rows()}
    first = moves.unique("slot", keep="first", maintain_order=True).get_column("slot").to_list()
    changes = {ordered[slot].key: _change(ordered[slot], *last[slot]) for slot in first}
    return CounterMoves(moves, ordered, changes, _crossings(moves, ordered))


def _change(counter: StoredCounter, before: int, after: int, period: int) -> CounterChange:
    return CounterChange(
        counter.key, counter.spec.unit, ratio(before, counter.factor), ratio(after, counter.factor), period_of_key(period), None
    )


def _crossings(moves: pl.DataFrame, counters: Sequence[StoredCounter]) -> dict[int, list[Notification]]:
    """The thresholds each item's changes crossed, by row (in key order within an item)."""
    watched = [slot for slot, counter in enumerate(counters) if counter.thresholds]
    crossings: dict[int, list[Notification]] = {}
    if not watched:
        return crossings
    for row, slot, before, after, _ in moves.filter(pl.col("slot").is_in(watched)).iter_rows():
        counter = counters[slot]
        crossed = thresholds_crossed(counter.key, counter.thresholds, before, after)
        if crossed:
            crossings.setdefault(row, []).extend(crossed)
    return crossings


def in_unit_text(value: pl.Expr, factor: int) -> pl.Expr:
    """The canonical text (:func:`kopek.money.exact_text`) of ``value / factor``: a counter's value in base units
    (integers) as its unit holds it, ``factor`` base units to one. Plain digits when the quotient has a finite decimal
    expansion (``12.5``, ``-3``), else ``n/d`` in lowest terms (``7/60``)."""
    primes = _prime_powers(factor)
    # gcd(value, factor), from the largest power of each prime of the factor that divides the value.
    common: pl.Expr = pl.lit(1, pl.Int128)
    for prime, power in primes.items():
        largest: pl.Expr = pl.lit(1, pl.Int128)
        for exponent in range(1, power + 1):
            largest = pl.when(value % prime**exponent == 0).then(pl.lit(prime**exponent, pl.Int128)).otherwise(largest)
        common = common * largest
    numerator, denominator = value // common, pl.lit(factor, pl.Int128) // common
    places = max(primes.get(2, 0), primes.get(5, 0))
    # The part below one in ``places`` digits: exact whenever the reduced denominator divides 10^places (only twos and
    # fives), and never past 10^places, so no value of a unit's factor (at most 2^30) overflows.
    whole = (numerator.abs() // denominator).cast(pl.String)
    below = (numerator.abs() % denominator) * (pl.lit(10**places, pl.Int128) // denominator)
    fraction = below.cast(pl.String).str.zfill(places).str.strip_chars_end("0") if places else pl.lit("")
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    decimal = pl.concat_str([sign, whole, pl.when(fraction == "").then(pl.lit("")).otherwise(pl.lit(".") + fraction)])
    repeating = [prime for prime in primes if prime not in (2, 5)]
    if not repeating:
        return decimal
    finite = pl.all_horizontal([denominator % prime != 0 for prime in repeating])
    return pl.when(finite).then(decimal).otherwise(pl.concat_str([numerator.cast(pl.String), pl.lit("/"), denominator.cast(pl.String)]))


def _prime_powers(number: int) -> dict[int, int]:
    """The prime factors of ``number`` (at least 1) with their exponents."""
    found: dict[int, int] = {}
    prime = 2
    while prime * prime <= number:
        while number % prime == 0:
            found[prime] = found.get(prime, 0) + 1
            number //= prime
        prime += 1
    if number > 1:
        found[number] = found.get(number, 0) + 1
    return found


def _before(charged: pl.DataFrame, name: str) -> pl.Expr:
    """Counter ``name``'s value before each item, in base units: its period's start value plus the earlier moves of its
    owner in it."""
    move = pl.col(f"m:{name}").fill_null(0) if f"m:{name}" in charged.columns else pl.lit(0, pl.Int128)
    earlier = move.cum_sum().over(counter_window(name)) - move
    return (pl.col(f"c0:{name}") + earlier).alias(f"b:{name}")

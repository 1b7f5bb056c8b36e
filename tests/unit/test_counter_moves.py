"""Property: the counter changes a chunk makes column-wise are those the row path makes item after item.

``counter_moves`` decides from each item's row and the counter's previous one whether
the item changes a stored counter. The reference here is the row path's rule, applied
one item at a time with the counter's state carried along: a change is stored when the
value moves, or when the counter is stored already (or an earlier item stored it) and
the item falls in another reset period than the counter's last stored one. Items are
drawn over two contracts, each with its own counter or both moving one shared counter,
stored before the chunk or not, with zero moves and new periods.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kopek.domain.catalog import CounterScope, CounterSpec
from kopek.domain.outcome import CounterKey
from kopek.domain.units import Unit
from kopek.money import ratio
from kopek.rating.columnar_counters import NO_PERIOD, StoredCounter, counter_moves, period_of_key

NAME = "minutes"
FACTOR = 60
DAY = 86_400_000_000
"""A period key apart (microseconds)."""

item_strategy = st.tuples(
    st.sampled_from(["A", "B"]),
    st.booleans(),
    st.sampled_from([0, 0, 30, 60, 90]),
    st.integers(min_value=0, max_value=2),
)


def _counters(shared: bool, stored: dict[str, tuple[int, int] | None]) -> dict[tuple[str, str], StoredCounter]:
    spec = CounterSpec(name=NAME, unit=Unit.MINUTES, initial=Decimal(0))
    counters = {}
    for contract in ("A", "B"):
        owner = "" if shared else contract
        key = CounterKey("", "", NAME, CounterScope.SHARED, "pool") if shared else CounterKey(contract, "", NAME, CounterScope.CONTRACT)
        value = stored[owner]
        counters[(contract, NAME)] = StoredCounter(
            key, spec, FACTOR, 0, value[0] if value is not None else None, value[1] if value is not None else NO_PERIOD
        )
    return counters


def _frame(items: list[tuple[str, bool, int, int]], counters: dict[tuple[str, str], StoredCounter], shared: bool) -> pl.DataFrame:
    """The chunk's columns as the vectorized path builds them; periods never go back for one owner (as rating makes them)."""
    latest: dict[str, int] = {}
    rows = []
    for row, (contract, touched, move, step) in enumerate(items):
        owner = "pool" if shared else contract
        counter = counters[(contract, NAME)]
        period = max(latest.get(owner, max(counter.period, 0)), max(counter.period, 0) + step * DAY)
        latest[owner] = period
        start = counter.start_value(period)
        rows.append((row, contract, touched, move if touched else None, period, owner, start))
    schema = {"row": pl.Int64, "contract_id": pl.String, f"t:{NAME}": pl.Boolean, f"m:{NAME}": pl.Int128}
    schema |= {f"e:{NAME}": pl.Int64, f"o:{NAME}": pl.String, f"c0:{NAME}": pl.Int128}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _row_path(frame: pl.DataFrame, counters: dict[tuple[str, str], StoredCounter]) -> list[tuple[int, CounterKey, int, int, int]]:
    """The row path's rule, item after item: (row, key, before, after, period) of every change it stores."""
    state = {counter.key: (counter.stored is not None, counter.period) for counter in counters.values()}
    values: dict[tuple[CounterKey, int], int] = {}
    found = []
    for row, contract, touched, move, period, _, start in frame.iter_rows():
        counter = counters[(contract, NAME)]
        before = values.get((counter.key, period), start)
        after = before + (move or 0)
        values[(counter.key, period)] = after
        if not touched:
            continue
        present, stored_period = state[counter.key]
        if after == before and (not present or period == stored_period):
            continue
        state[counter.key] = (True, period)
        found.append((row, counter.key, before, after, period))
    return found


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(item_strategy, max_size=30),
    shared=st.booleans(),
    stored_a=st.none() | st.tuples(st.sampled_from([0, 60, 120]), st.sampled_from([0, DAY])),
    stored_b=st.none() | st.tuples(st.sampled_from([0, 60, 120]), st.sampled_from([0, DAY])),
)
def test_the_changes_made_column_wise_are_the_row_paths(
    items: list[tuple[str, bool, int, int]], shared: bool, stored_a: tuple[int, int] | None, stored_b: tuple[int, int] | None
) -> None:
    counters = _counters(shared, {"A": stored_a, "B": stored_b, "": stored_a})
    frame = _frame(items, counters, shared)
    expected = _row_path(frame, counters)
    moves = counter_moves(frame, counters)
    journal = moves.journal
    assert [(row, change.key) for row, change in journal] == [(row, key) for row, key, *_ in expected]
    for (_, change), (_, _, before, after, period) in zip(journal, expected, strict=True):
        assert (change.before, change.after, change.period_start) == (ratio(before, FACTOR), ratio(after, FACTOR), period_of_key(period))
    last = {key: (before, after, period) for _, key, before, after, period in expected}
    assert {key: (change.before, change.after) for key, change in moves.changes.items()} == {
        key: (ratio(before, FACTOR), ratio(after, FACTOR)) for key, (before, after, _) in last.items()
    }

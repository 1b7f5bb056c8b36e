"""A ``schedule`` node priced column-wise: each item cut into parts by the rating core's own windows, each part priced
by its window's compiled node, the parts summed back per item.

The row path (:func:`kopek.rating.price_tree._schedule`) prices a duration from the item's
consumption date: :meth:`~kopek.rating.schedule_windows.ScheduleWindows.parts` cuts it at the
edges it crosses (a window's ``from`` or ``to``, a local midnight, a change of summer time),
adjacent parts under the same window merged, and each part is priced by its window as a
quantity of its own; any other quantity, and a duration of zero, is priced whole by the window
holding the consumption date (:meth:`~kopek.rating.schedule_windows.ScheduleWindows.window_at`).
A :class:`ScheduleStage` calls those same functions for each item that reaches the node, lays
the parts out as rows (the item's ``row``, the window's index, the part's seconds), prices the
part rows with the windows' expressions and sums their numerators per item. What reaches the
node may be what an allowance above it left (``rest``): the stage runs after the helper
columns it reads, so each item is cut from its consumption date with the quantity the row path
would give the node.

A part that is not a whole number of base units (a consumption date with a fraction of a
second crossing an edge), and a usage crossing more edges than a usage may, raise
:class:`~kopek.rating.columnar.Unsupported`: the row path prices (or refuses) them. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import polars as pl

from kopek import limits
from kopek.errors import InvalidError
from kopek.money import Exact
from kopek.rating.schedule_windows import ScheduleWindows

PARTS_MAX: Final = limits.SCHEDULE_EDGES_MAX + 1
"""The most parts a usage is cut into: past that many edges the row path refuses it."""


class ScheduleTooFine(Exception):
    """An item's parts need the row path: a part with a fraction of a base unit, or more edges than a usage may cross."""


@dataclass(frozen=True, slots=True)
class ScheduleStage:
    """Adds column ``column``: the numerator of a schedule node's amount for each item (zero where ``mask`` is false).

    ``quantity`` and ``mask`` are expressions over the frame (what reaches the node, and which items do);
    ``numerator`` is the amount of one part over the part rows, reading the part's window index from column
    ``window`` and its seconds from ``seconds`` (and any column of the item's row); ``default`` is the window index
    of the node's default (the time no window holds)."""

    windows: ScheduleWindows
    duration: bool
    default: int
    quantity: pl.Expr
    mask: pl.Expr
    numerator: pl.Expr
    window: str
    seconds: str
    column: str

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        reached, quantity = f"{self.column}_reached", f"{self.column}_quantity"
        marked = frame.with_columns(
            (self.mask & pl.col("live")).fill_null(value=False).alias(reached), self.quantity.alias(quantity)
        ).collect()
        rows: list[int] = []
        windows: list[int] = []
        seconds: list[int] = []
        for row, at, amount in marked.filter(pl.col(reached)).select("row", "consumption_date", quantity).iter_rows():
            for window, part in self.parts(at, amount):
                rows.append(row)
                windows.append(window)
                seconds.append(part)
        parts = pl.DataFrame(
            {
                "row": pl.Series(rows, dtype=pl.Int64),
                self.window: pl.Series(windows, dtype=pl.Int32),
                self.seconds: pl.Series(seconds, dtype=pl.Int128),
            }
        )
        summed = (
            parts.lazy()
            .join(marked.lazy().drop(reached, quantity), on="row", how="left")
            .group_by("row")
            .agg(self.numerator.sum().alias(self.column))
        )
        return (
            marked.lazy()
            .drop(reached, quantity)
            .join(summed, on="row", how="left", maintain_order="left")
            .with_columns(pl.col(self.column).fill_null(pl.lit(0, pl.Int128)))
        )

    def parts(self, at: datetime, quantity: int) -> list[tuple[int, int]]:
        """The usage of ``quantity`` base units from ``at`` as (window index, base units), as the row path cuts it."""
        if not self.duration or quantity <= 0:
            return [(self._index(self.windows.window_at(at)), quantity)]
        try:
            cut = self.windows.parts(at, quantity)
        except InvalidError as error:
            raise ScheduleTooFine(error.message) from error
        return [(self._index(window), _whole(part)) for window, part in cut]

    def _index(self, window: int | None) -> int:
        return self.default if window is None else window


def _whole(part: Exact) -> int:
    if not isinstance(part, int):
        raise ScheduleTooFine(f"a schedule part of {part} s is not a whole number of seconds")
    return part

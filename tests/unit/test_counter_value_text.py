"""Property: a counter's value written column-wise is the text the row path stores for it.

The vectorized rating path journals counter values from whole numbers of base units
(:func:`kopek.rating.columnar_counters.in_unit_text`); the row path stores the exact
quotient in the counter's unit as :func:`kopek.money.exact_text` writes it (``12.5``,
``-3``, ``7/60``). Both must give the same text for every unit a counter may be kept in.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kopek.domain.units import Unit
from kopek.money import exact_text, ratio
from kopek.rating.columnar_counters import in_unit_text

FACTORS = sorted({int(unit.base_factor) for unit in Unit})
INT128_MAX = 2**127 - 1


def _texts(values: list[int], factor: int) -> list[str]:
    frame = pl.DataFrame({"value": pl.Series(values, dtype=pl.Int128)})
    return frame.select(text=in_unit_text(pl.col("value"), factor)).get_column("text").to_list()


@settings(deadline=None)
@given(
    factor=st.sampled_from(FACTORS),
    values=st.lists(
        st.integers(min_value=-INT128_MAX, max_value=INT128_MAX) | st.integers(min_value=-(10**7), max_value=10**7), max_size=40
    ),
)
def test_a_value_in_base_units_reads_as_the_row_path_stores_it(factor: int, values: list[int]) -> None:
    assert _texts(values, factor) == [exact_text(ratio(value, factor)) for value in values]


def test_whole_fractional_and_repeating_values_of_a_minute_counter() -> None:
    assert _texts([0, 60, -60, 90, -90, 7, -7, 3_600], 60) == ["0", "1", "-1", "1.5", "-1.5", "7/60", "-7/60", "60"]

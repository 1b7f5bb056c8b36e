"""Units of quantity and their conversion, exact.

Each unit belongs to a dimension and is a whole multiple of that dimension's base
unit (second, byte, event), so conversions to the base never lose digits; a
conversion from the base is an exact fraction (fifty seconds are 5/6 of a minute).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import overload


class Dimension(StrEnum):
    TIME = "time"
    DATA = "data"
    COUNT = "count"
    MONEY = "money"


class Unit(StrEnum):
    """A unit of quantity. Rates, counters and quantity properties each name one."""

    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    BYTES = "bytes"
    KILOBYTES = "kilobytes"
    MEGABYTES = "megabytes"
    GIGABYTES = "gigabytes"
    KIBIBYTES = "kibibytes"
    MEBIBYTES = "mebibytes"
    GIBIBYTES = "gibibytes"
    EVENTS = "events"
    AMOUNT = "amount"
    """Money in the charge plan's currency; only for counters (e.g. what a ``cap`` has let through)."""

    @property
    def dimension(self) -> Dimension:
        return _UNIT_TABLE[self][0]

    @property
    def base_factor(self) -> int:
        """How many base units (seconds, bytes, events) one of this unit holds."""
        return _UNIT_TABLE[self][1]

    @overload
    def to_base(self, quantity: Decimal) -> Decimal: ...
    @overload
    def to_base(self, quantity: int) -> int: ...
    @overload
    def to_base(self, quantity: Fraction) -> Fraction: ...
    def to_base(self, quantity: Decimal | int | Fraction) -> Decimal | int | Fraction:
        return quantity * self.base_factor

    def from_base(self, quantity: int | Fraction) -> int | Fraction:
        """``quantity`` base units in this unit, exactly."""
        factor = self.base_factor
        if factor == 1:
            return quantity
        found = Fraction(quantity, factor)
        return found.numerator if found.denominator == 1 else found


_UNIT_TABLE: dict[Unit, tuple[Dimension, int]] = {
    Unit.SECONDS: (Dimension.TIME, 1),
    Unit.MINUTES: (Dimension.TIME, 60),
    Unit.HOURS: (Dimension.TIME, 3600),
    Unit.BYTES: (Dimension.DATA, 1),
    Unit.KILOBYTES: (Dimension.DATA, 1000),
    Unit.MEGABYTES: (Dimension.DATA, 1000**2),
    Unit.GIGABYTES: (Dimension.DATA, 1000**3),
    Unit.KIBIBYTES: (Dimension.DATA, 1024),
    Unit.MEBIBYTES: (Dimension.DATA, 1024**2),
    Unit.GIBIBYTES: (Dimension.DATA, 1024**3),
    Unit.EVENTS: (Dimension.COUNT, 1),
    Unit.AMOUNT: (Dimension.MONEY, 1),
}

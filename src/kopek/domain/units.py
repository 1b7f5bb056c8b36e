"""Units of quantity and their conversion, exact in Decimal.

Each unit belongs to a dimension and is a whole multiple of that dimension's base
unit (second, byte, event), so conversions to the base never lose digits.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


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
    def base_factor(self) -> Decimal:
        """How many base units (seconds, bytes, events) one of this unit holds."""
        return _UNIT_TABLE[self][1]

    def to_base(self, quantity: Decimal) -> Decimal:
        return quantity * self.base_factor

    def from_base(self, quantity: Decimal) -> Decimal:
        return quantity / self.base_factor


_UNIT_TABLE: dict[Unit, tuple[Dimension, Decimal]] = {
    Unit.SECONDS: (Dimension.TIME, Decimal(1)),
    Unit.MINUTES: (Dimension.TIME, Decimal(60)),
    Unit.HOURS: (Dimension.TIME, Decimal(3600)),
    Unit.BYTES: (Dimension.DATA, Decimal(1)),
    Unit.KILOBYTES: (Dimension.DATA, Decimal(1000)),
    Unit.MEGABYTES: (Dimension.DATA, Decimal(1000**2)),
    Unit.GIGABYTES: (Dimension.DATA, Decimal(1000**3)),
    Unit.KIBIBYTES: (Dimension.DATA, Decimal(1024)),
    Unit.MEBIBYTES: (Dimension.DATA, Decimal(1024**2)),
    Unit.GIBIBYTES: (Dimension.DATA, Decimal(1024**3)),
    Unit.EVENTS: (Dimension.COUNT, Decimal(1)),
    Unit.AMOUNT: (Dimension.MONEY, Decimal(1)),
}

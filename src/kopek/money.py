"""Money and quantities: the one place where numbers enter kopek and where they are rounded.

Every amount and every quantity is a :class:`decimal.Decimal`. Numbers are parsed
from ``str``, ``int`` or ``Decimal`` only; a ``float`` is refused because it has
already lost the exact value the client meant. Rounding happens only through
:func:`quantize`, with the rounding mode named at the call.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from enum import StrEnum
from typing import Final

#: Precision used for intermediate rating arithmetic; far above any currency's needs,
#: so that rounding only ever happens where the catalog says.
RATING_PRECISION_DIGITS: Final = 60

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)


class RoundingMode(StrEnum):
    """How a charge's final amount is rounded to its number of decimals."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    UP = "up"
    DOWN = "down"
    CEILING = "ceiling"
    FLOOR = "floor"


_DECIMAL_ROUNDING: Final = {
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
}


class NotADecimalError(ValueError):
    """A value could not be read as an exact decimal number."""


def to_decimal(value: object) -> Decimal:
    """Read ``value`` as an exact, finite Decimal.

    Accepts ``Decimal``, ``int`` and numeric strings. Refuses ``float`` (inexact),
    ``bool`` (a flag, not a number), NaN and infinities.
    """
    if isinstance(value, bool | float):
        raise NotADecimalError(f"{type(value).__name__} is not an exact decimal number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation as exc:
            raise NotADecimalError(f"{value!r} is not a decimal number") from exc
    else:
        raise NotADecimalError(f"{type(value).__name__} is not a decimal number")
    if not result.is_finite():
        raise NotADecimalError(f"{value!r} is not a finite number")
    return result


def quantize(amount: Decimal, *, decimals: int, mode: RoundingMode) -> Decimal:
    """Round ``amount`` to ``decimals`` places with ``mode``; the only rounding in kopek."""
    exponent = Decimal(1).scaleb(-decimals)
    with decimal.localcontext() as context:
        context.prec = RATING_PRECISION_DIGITS
        return amount.quantize(exponent, rounding=_DECIMAL_ROUNDING[mode])


def rating_context() -> decimal.Context:
    """A decimal context for rating arithmetic: wide precision, traps on every fault."""
    context = decimal.Context(prec=RATING_PRECISION_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
    context.traps[decimal.DivisionByZero] = True
    context.traps[decimal.InvalidOperation] = True
    context.traps[decimal.Overflow] = True
    return context


def ceil_to_multiple(quantity: Decimal, step: Decimal) -> Decimal:
    """Round ``quantity`` up to the next multiple of ``step`` (``step`` > 0)."""
    assert step > 0, "an increment is validated positive on catalog load"
    steps = (quantity / step).to_integral_value(rounding=decimal.ROUND_CEILING)
    return steps * step


def to_text(amount: Decimal) -> str:
    """The canonical text of a Decimal for JSON and storage: no exponent, full precision."""
    text = format(amount, "f")
    return text


def quantity_text(quantity: Decimal) -> str:
    """The canonical text of a quantity: no exponent and no trailing zeros (``1000000``, ``90.5``, ``0``).

    An amount keeps the places its rounding gave it (``0.60``); a quantity has no such places,
    so the same quantity always reads the same, however it was computed (``1.0E+6`` or ``1000000``).
    """
    if quantity.is_zero():
        return "0"
    return format(quantity.normalize(decimal.Context(prec=max(len(quantity.as_tuple().digits), 1))), "f")

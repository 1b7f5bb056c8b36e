"""Money and quantities: the one place where numbers enter kopek and where they are rounded.

Every amount and every quantity at kopek's edges is a :class:`decimal.Decimal`. Numbers
are parsed from ``str``, ``int`` or ``Decimal`` only; a ``float`` is refused because it
has already lost the exact value the client meant. Inside rating, numbers are exact
rationals (:data:`Exact`: an ``int``, or a :class:`fractions.Fraction` when there is a
denominator), so a sum of thirds of a minute is exact; a counter value that is not a
finite decimal is written as ``n/d`` (:func:`exact_text`). Rounding happens only through
:func:`quantize` (a Decimal) or :func:`round_exact` (an exact rational), with the rounding
mode named at the call.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

#: Precision of the decimal arithmetic on balances and other finite decimals (sums of
#: amounts of at most 38 digits), far above what they need so that it never rounds.
RATING_PRECISION_DIGITS: Final = 60

Exact = int | Fraction
"""An exact rational number: an ``int`` when it is whole, else a ``Fraction``."""

ExactInput = Fraction | Decimal | int
"""What may be read as an exact rational: a Fraction, a finite Decimal or an int."""

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


def to_text(amount: Decimal) -> str:
    """The canonical text of a Decimal for JSON and storage: no exponent, full precision."""
    text = format(amount, "f")
    return text


def exact(value: ExactInput) -> Exact:
    """``value`` as an exact rational: an int when it is whole, else a Fraction (a Decimal converts exactly)."""
    if type(value) is int:
        return value
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, Decimal):
        numerator, denominator = value.as_integer_ratio()
        return numerator if denominator == 1 else Fraction(numerator, denominator)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not an exact number")


def ratio(numerator: Exact, denominator: Exact) -> Exact:
    """``numerator / denominator`` exactly (never a float), as an int when it is whole."""
    if type(numerator) is int and type(denominator) is int and numerator % denominator == 0:
        return numerator // denominator
    quotient = Fraction(numerator, denominator)
    return quotient.numerator if quotient.denominator == 1 else quotient


def _decimal_places(denominator: int) -> int | None:
    """The places of the finite decimal expansion of ``n / denominator`` (reduced), or None when it repeats."""
    twos = (denominator & -denominator).bit_length() - 1
    rest = denominator >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    return max(twos, fives) if rest == 1 else None


def is_finite_decimal(value: ExactInput) -> bool:
    """Whether ``value`` has a finite decimal expansion (one third has not)."""
    return isinstance(value, int | Decimal) or _decimal_places(value.denominator) is not None


def exact_decimal(value: ExactInput) -> Decimal:
    """``value`` as a Decimal, exactly, with the fewest places it needs; ValueError when it repeats (one third)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    places = _decimal_places(value.denominator)
    if places is None:
        raise ValueError(f"{value} has no finite decimal expansion")
    digits = value.numerator * 10**places // value.denominator
    return Decimal(f"{digits}E-{places}")


def exact_text(value: ExactInput) -> str:
    """The canonical text of an exact number: plain decimal digits when it has a finite expansion
    (``12.5``, ``-3``, ``0``), else ``n/d`` in lowest terms (``1/3``)."""
    if not isinstance(value, Fraction):
        value = exact(value)
        if isinstance(value, int):
            return str(value)
    places = _decimal_places(value.denominator)
    if places is None:
        return f"{value.numerator}/{value.denominator}"
    # A reduced fraction's expansion ends on its last place: no trailing zeros to strip.
    return to_text(exact_decimal(value)) if places else str(value.numerator)


_FRACTION_TEXT: Final = re.compile(r"^\s*(-?[0-9]+)/([0-9]+)\s*$")


def parse_exact(value: object) -> Exact:
    """Read an exact number: what :func:`to_decimal` accepts, a Fraction, or the text ``n/d`` (``d`` > 0)."""
    if isinstance(value, Fraction):
        return exact(value)
    if isinstance(value, str):
        match = _FRACTION_TEXT.match(value)
        if match is not None:
            numerator, denominator = int(match[1]), int(match[2])
            if denominator == 0:
                raise NotADecimalError(f"{value!r} divides by zero")
            return ratio(numerator, denominator)
    return exact(to_decimal(value))


def round_exact(numerator: int, denominator: int, *, decimals: int, mode: RoundingMode) -> Decimal:
    """``numerator / denominator`` (``denominator`` > 0) rounded to ``decimals`` places with ``mode``: the one
    rounding of an exact value, as :func:`quantize` rounds a Decimal (a negative value rounded to zero keeps its
    sign, ``-0.00``)."""
    negative = numerator < 0
    quotient, remainder = (
        divmod(-numerator if negative else numerator, denominator)
        if decimals == 0
        else divmod((-numerator if negative else numerator) * 10**decimals, denominator)
    )
    if remainder and _rounds_away(mode, quotient, remainder, denominator, negative=negative):
        quotient += 1
    return Decimal(f"{'-' if negative else ''}{quotient}E-{decimals}")


class ExactRounding:
    """One charge's rounding of exact amounts, to ``decimals`` places with ``mode``, as :func:`round_exact`.

    It keeps the Decimal of each result it gave (up to ``kept_max`` of them): a tariff's amounts repeat, and
    finding a Decimal costs less than building one.
    """

    __slots__ = ("_half_even", "_half_up", "_kept", "_kept_max", "_scale", "decimals", "mode")

    def __init__(self, decimals: int, mode: RoundingMode, *, kept_max: int) -> None:
        self.decimals, self.mode = decimals, mode
        self._scale = 10**decimals
        self._kept: dict[int, Decimal] = {}
        self._kept_max = kept_max
        self._half_up, self._half_even = mode is RoundingMode.HALF_UP, mode is RoundingMode.HALF_EVEN
        """The commonest modes, decided here without a call (as :func:`_rounds_away` does)."""

    def __call__(self, numerator: int, denominator: int) -> Decimal:
        """``numerator / denominator`` (``denominator`` > 0), rounded."""
        negative = numerator < 0
        magnitude = -numerator if negative else numerator
        if self._half_up:
            # floor(magnitude * scale / denominator + 1/2): up when the remainder is half the denominator or more.
            quotient = (magnitude * self._scale * 2 + denominator) // (denominator * 2)
        else:
            quotient, remainder = divmod(magnitude * self._scale, denominator)
            if remainder:
                if self._half_even:
                    twice = 2 * remainder
                    away = twice > denominator or (twice == denominator and quotient % 2 == 1)
                else:
                    away = _rounds_away(self.mode, quotient, remainder, denominator, negative=negative)
                if away:
                    quotient += 1
        key = -quotient - 1 if negative else quotient  # -0.00 is kept apart from 0.00
        found = self._kept.get(key)
        if found is None:
            found = Decimal(f"{'-' if negative else ''}{quotient}E-{self.decimals}")
            if len(self._kept) < self._kept_max:
                self._kept[key] = found
        return found


def _rounds_away(mode: RoundingMode, quotient: int, remainder: int, denominator: int, *, negative: bool) -> bool:
    """Whether a magnitude ``quotient + remainder / denominator`` (remainder > 0) rounds away from zero."""
    if mode is RoundingMode.HALF_UP:
        return 2 * remainder >= denominator
    if mode is RoundingMode.HALF_EVEN:
        twice = 2 * remainder
        return twice > denominator or (twice == denominator and quotient % 2 == 1)
    if mode is RoundingMode.UP:
        return True
    if mode is RoundingMode.DOWN:
        return False
    return negative if mode is RoundingMode.FLOOR else not negative


def quantity_text(quantity: Decimal) -> str:
    """The canonical text of a quantity: no exponent and no trailing zeros (``1000000``, ``90.5``, ``0``).

    An amount keeps the places its rounding gave it (``0.60``); a quantity has no such places,
    so the same quantity always reads the same, however it was computed (``1.0E+6`` or ``1000000``).
    """
    if quantity.is_zero():
        return "0"
    return format(quantity.normalize(decimal.Context(prec=max(len(quantity.as_tuple().digits), 1))), "f")

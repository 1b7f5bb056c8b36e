"""Quantities a client reports or requests (a session's usage, a grant's request, a quoted or captured quantity),
checked before anything is rated: exact, not negative, within the digit limit."""

from __future__ import annotations

from decimal import Decimal

from kopek import limits
from kopek.errors import Code, ErrorDetail, InvalidError
from kopek.money import NotADecimalError, to_decimal


def checked_quantity(raw: object, field: str) -> Decimal:
    """A reported or requested quantity: an exact, non-negative number."""
    try:
        quantity = to_decimal(raw)
    except NotADecimalError as error:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"{field}: {error}",
            details=(ErrorDetail(str(error), (field,), Code.REQUEST_INVALID),),
        ) from error
    if quantity < 0:
        raise InvalidError(
            code=Code.QUANTITY_NEGATIVE,
            message=f"{field} must not be negative, got {quantity}",
            details=(ErrorDetail("negative", (field,), Code.QUANTITY_NEGATIVE),),
        )
    if len(quantity.as_tuple().digits) > limits.DECIMAL_DIGITS_MAX or quantity.adjusted() >= limits.DECIMAL_DIGITS_MAX:
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"{field} has more than {limits.DECIMAL_DIGITS_MAX} digits")
    return quantity

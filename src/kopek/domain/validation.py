"""Turning pydantic validation faults into kopek's INVALID error, one detail per fault."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic

from kopek.errors import Code, ErrorDetail, InvalidError

Flag = Annotated[bool, pydantic.Strict()]
"""A yes-or-no field of a request: only ``true`` or ``false`` (JSON booleans); ``0``, ``1`` or ``"yes"`` are refused."""

_NODE_TAGS = frozenset({"flat", "connect_fee", "sum", "rate", "tiers", "switch", "prefix", "range", "allowance", "no_access"})


def fault_details(error: pydantic.ValidationError, *, source: str | None = None) -> list[ErrorDetail]:
    """One detail per fault, located from ``source`` (a file name) when given.

    Drops the pricing-node tag pydantic adds to paths into tagged unions, and the
    "too short" fault pydantic adds to a list whose element was invalid.
    """
    prefix: tuple[str | int, ...] = (source,) if source is not None else ()
    details = [_detail(fault, prefix) for fault in error.errors(include_url=False)]
    return [detail for detail in details if not (detail.code == "too_short" and any(_inside(detail, other) for other in details))]


def invalid_input(error: pydantic.ValidationError, *, code: Code, what: str, source: str | None = None) -> InvalidError:
    """``error`` as an INVALID error with ``code``; the message counts the faults of ``what``."""
    details = fault_details(error, source=source)
    where = f"{source}: " if source is not None else ""
    return InvalidError(code=code, message=f"{where}{what} has {len(details)} fault(s)", details=tuple(details))


def _detail(fault: Any, prefix: tuple[str | int, ...]) -> ErrorDetail:
    location = tuple(part for part in fault["loc"] if isinstance(part, str | int) and part not in _NODE_TAGS)
    return ErrorDetail(fault["msg"], (*prefix, *location), fault["type"])


def _inside(outer: ErrorDetail, inner: ErrorDetail) -> bool:
    return len(inner.location) > len(outer.location) and inner.location[: len(outer.location)] == outer.location

"""Turning a parsed catalog document into a validated :class:`Catalog`, or into an error
whose details name the source, the path inside it and what is wrong."""

from __future__ import annotations

from typing import Any

import pydantic

from kopek.domain.catalog import Catalog
from kopek.domain.catalog_rules import check_catalog
from kopek.errors import Code, ErrorDetail, InvalidError


def catalog_from_document(document: Any, *, source: str) -> Catalog:
    """Validate ``document`` as a catalog; raise INVALID ``catalog_invalid`` listing every fault."""
    try:
        catalog = Catalog.model_validate(document)
    except pydantic.ValidationError as exc:
        raise _catalog_error(source, _own_faults([_detail(error) for error in exc.errors(include_url=False)])) from exc
    faults = check_catalog(catalog)
    if faults:
        raise _catalog_error(source, faults)
    return catalog


def _detail(error: Any) -> ErrorDetail:
    location = tuple(part for part in error["loc"] if not _is_union_tag(part))
    return ErrorDetail(error["msg"], location, error["type"])


def _own_faults(details: list[ErrorDetail]) -> list[ErrorDetail]:
    # pydantic drops an invalid element from a list and then also reports the list
    # as too short; that second fault names no mistake of the author's, so it goes.
    def inside(outer: ErrorDetail, inner: ErrorDetail) -> bool:
        return len(inner.location) > len(outer.location) and inner.location[: len(outer.location)] == outer.location

    return [detail for detail in details if not (detail.code == "too_short" and any(inside(detail, other) for other in details))]


def _is_union_tag(part: object) -> bool:
    # pydantic adds the discriminator value (e.g. 'rate') to paths into tagged unions.
    return isinstance(part, str) and part in {
        "flat",
        "connect_fee",
        "sum",
        "rate",
        "tiers",
        "switch",
        "prefix",
        "range",
        "allowance",
        "no_access",
    }


def _catalog_error(source: str, details: list[ErrorDetail]) -> InvalidError:
    return InvalidError(
        code=Code.CATALOG_INVALID,
        message=f"{source}: the catalog has {len(details)} fault(s)",
        details=tuple(ErrorDetail(detail.message, (source, *detail.location), detail.code) for detail in details),
    )


def format_location(location: tuple[str | int, ...]) -> str:
    """A path like ``charge_plans[0].charges[1].price.amount``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"

"""Turning a parsed catalog document into a validated :class:`Catalog`, or into an error
whose details name the source, the path inside it and what is wrong."""

from __future__ import annotations

from typing import Any

import pydantic

from kopek.domain.catalog import Catalog
from kopek.domain.catalog_rules import check_catalog
from kopek.domain.validation import invalid_input
from kopek.errors import Code, ErrorDetail, InvalidError


def catalog_from_document(document: Any, *, source: str) -> Catalog:
    """Validate ``document`` as a catalog; raise INVALID ``catalog_invalid`` listing every fault."""
    try:
        catalog = Catalog.model_validate(document)
    except pydantic.ValidationError as exc:
        raise invalid_input(exc, code=Code.CATALOG_INVALID, what="the catalog", source=source) from exc
    faults = check_catalog(catalog)
    if faults:
        raise InvalidError(
            code=Code.CATALOG_INVALID,
            message=f"{source}: the catalog has {len(faults)} fault(s)",
            details=tuple(ErrorDetail(fault.message, (source, *fault.location), fault.code) for fault in faults),
        )
    return catalog


def format_location(location: tuple[str | int, ...]) -> str:
    """A path like ``charge_plans[0].charges[1].price.amount``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"

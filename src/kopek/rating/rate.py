"""Rating: ``(catalog, contract state, chargeable item) -> RatingOutcome``, a pure function.

Every charge of every contract item whose plan prices the item's class is applied
in contract order; they share one view of the counters, so an allowance used by
one charge is gone for the next. The catalog is compiled once per version
(:mod:`kopek.rating.compiled`); each pricing tree is evaluated exactly, and each
charge's amount rounded once, at the catalog's places, with its mode.
"""

from __future__ import annotations

from decimal import Decimal

from kopek.domain.catalog import Catalog
from kopek.domain.item import TypedItem
from kopek.rating.compiled import CompiledCatalog, compiled, reset_cycle
from kopek.rating.outcome import RatingOutcome
from kopek.rating.state import CounterHold, CounterLife, RatingState

__all__ = ["CounterHold", "CounterLife", "RatingState", "price_quantity", "rate_item", "reset_cycle"]


def rate_item(catalog: Catalog, state: RatingState, item: TypedItem) -> RatingOutcome:
    """Price ``item`` under every applicable charge of ``state``'s contract."""
    last = _last
    if last is not None and last[0] is catalog:
        return last[1].rate(state, item)
    return _compiled_last(catalog).rate(state, item)


def _compiled_last(catalog: Catalog) -> CompiledCatalog:
    """The compiled form of ``catalog``, kept as the last one used: callers rate item after item in one catalog
    version, and finding it by identity costs less than asking the catalog for it."""
    global _last
    found = compiled(catalog)
    _last = (catalog, found)
    return found


_last: tuple[Catalog, CompiledCatalog] | None = None


def price_quantity(catalog: Catalog, state: RatingState, item: TypedItem) -> Decimal:
    """The total amount ``item`` would cost, changing nothing (a price enquiry)."""
    return sum((charged.amount for charged in rate_item(catalog, state, item).charged_items), Decimal(0))

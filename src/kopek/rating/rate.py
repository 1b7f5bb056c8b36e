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
from kopek.rating.compiled import ChargeTrace, compiled_traced, rate_item, reset_cycle
from kopek.rating.outcome import RatingOutcome
from kopek.rating.state import CounterHold, CounterLife, RatingState

__all__ = ["ChargeTrace", "CounterHold", "CounterLife", "RatingState", "price_quantity", "rate_item", "rate_item_traced", "reset_cycle"]


def rate_item_traced(catalog: Catalog, state: RatingState, item: TypedItem) -> tuple[RatingOutcome, tuple[ChargeTrace, ...]]:
    """:func:`rate_item`, with the pricing nodes each charged item went through (a price enquiry's breakdown); the
    same outcome, from closures compiled apart from those of charging."""
    return compiled_traced(catalog).rate_traced(state, item)


def price_quantity(catalog: Catalog, state: RatingState, item: TypedItem) -> Decimal:
    """The total amount ``item`` would cost, changing nothing (a price enquiry)."""
    return sum((charged.amount for charged in rate_item(catalog, state, item).charged_items), Decimal(0))

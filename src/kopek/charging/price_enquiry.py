"""A price enquiry: what one chargeable item would cost now, charging nothing.

The same checks and the same rating as an offline charge (item class, properties, access,
contract chargeable), on the counters as stored; the unit of work is rolled back, so nothing
changes.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

from kopek.charging.offline import ChargeCommand, ChargingContext, chargeable_contract, typed_item
from kopek.charging.rating_state import load_rating_state
from kopek.charging.results import ResultOptions
from kopek.domain.item import ChargeableItem
from kopek.money import ZERO, rating_context
from kopek.rating.rate import rate_item
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class PriceEnquiry:
    """The amount the item would cost (the sum of its charges), in ``currency``; ``contract_id`` is the contract it selects."""

    amount: Decimal
    currency: str | None
    contract_id: str


def enquire_price(item: ChargeableItem, context: ChargingContext) -> PriceEnquiry:
    with UnitOfWork(context.engine) as uow:
        catalog = context.catalogs.current(uow).catalog
        typed = typed_item(catalog, ChargeCommand(item, ResultOptions()))
        contract = chargeable_contract(uow, typed)
        outcome = rate_item(catalog, load_rating_state(uow, catalog, contract), typed)
    with decimal.localcontext(rating_context()):
        amount = sum((charged.amount for charged in outcome.charged_items), ZERO)
    currencies = {charged.currency for charged in outcome.charged_items}
    return PriceEnquiry(amount, currencies.pop() if len(currencies) == 1 else None, contract.id)

"""Grants of online charging: how much usage the money available buys, and what it holds.

Pure: the price of a quantity is what :func:`rate_item` charges for it (exact, rounded once
per charge), so a grant is priced exactly as its usage will be charged and the search for the
largest affordable quantity compares exact prices. What each account may spend comes from
:func:`kopek.domain.accounts.spendable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from kopek import limits
from kopek.domain.accounts import check_chargeable, resolve_payers, spending_refusal
from kopek.domain.catalog import Catalog, PropertyType
from kopek.domain.item import TypedItem
from kopek.domain.master import Account, AccountId, Contract
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.errors import KopekError
from kopek.money import ZERO, ExactInput, exact, exact_decimal
from kopek.rating.outcome import RatingOutcome
from kopek.rating.quota import grid_step, max_affordable, on_grid
from kopek.rating.rate import CounterHold, RatingState, rate_item


@dataclass(frozen=True, slots=True)
class Grant:
    """A granted quantity, its price per paying account, why nothing was granted (if so), and
    the counter changes the grant holds (e.g. free units it will use)."""

    quantity: Decimal
    amounts: dict[AccountId, Decimal]
    refusal: KopekError | None = None
    held: tuple[CounterChange, ...] = ()


def grant(
    catalog: Catalog,
    state: RatingState,
    item: TypedItem,
    accounts: Mapping[AccountId, Account],
    available: Mapping[AccountId, Decimal | None],
    *,
    requested: Decimal | None = None,
) -> Grant:
    """min(requested, maximum affordable) on the increment grid, and its price per paying account."""
    contract = state.contract
    step = grid_step(catalog, contract, item)
    limit = on_grid(requested, step) if requested is not None else exact_decimal(exact(step) * limits.SESSION_QUOTA_STEPS_MAX)

    rated: dict[str, RatingOutcome] = {}

    def outcome(quantity: Decimal) -> RatingOutcome:
        # The same state prices the same quantity the same way: each quantity is rated once. Kept by its text, since
        # the item carries the quantity as written (60 and 60.0 are equal, yet shown apart).
        text = str(quantity)
        found = rated.get(text)
        if found is None:
            found = rated[text] = rate_item(catalog, state, with_quantity(item, quantity))
        return found

    def amounts(quantity: Decimal) -> dict[AccountId, Decimal]:
        return _per_payer(contract, outcome(quantity))

    if limit == 0:
        return Grant(ZERO, {})
    probe = amounts(step)
    for payer in sorted(probe):
        check_chargeable(accounts[payer])
    quantity = max_affordable(lambda quantity: spending_refusal(amounts(quantity), accounts, available) is None, step=step, limit=limit)
    if quantity == 0:
        return Grant(ZERO, {}, spending_refusal(probe, accounts, available))
    granted = outcome(quantity)
    return Grant(quantity, _per_payer(contract, granted), held=granted.counter_changes)


def _per_payer(contract: Contract, outcome: RatingOutcome) -> dict[AccountId, Decimal]:
    totals: dict[AccountId, Decimal] = {}
    for charged, payer in zip(outcome.charged_items, resolve_payers(contract, outcome.charged_items), strict=True):
        totals[payer] = totals.get(payer, ZERO) + charged.amount
    return totals


def session_currency(catalog: Catalog, contract: Contract, item: TypedItem) -> str:
    """The currency of a session's amounts: the currency of the first plan of ``contract`` (in contract order, in effect
    at the item's date) that prices the item's class, or failing that, of its first plan."""
    plans = [plan for contract_item in contract.items if (plan := catalog.charge_plan(contract_item.charge_plan, item.consumption_date))]
    pricing = [plan for plan in plans if any(charge.item_class == item.item_class.name for charge in plan.charges)]
    chosen = (pricing or plans)[0] if plans else None
    assert chosen is not None, "a session's contract has a plan in effect (rating refused it otherwise)"
    return chosen.currency


def added_holds(holds: Iterable[tuple[CounterKey, ExactInput, datetime | None]]) -> dict[CounterKey, CounterHold]:
    """Several grants' holds ``(counter, delta, period start)`` as one per counter: added up exactly in the newest
    period (a hold priced in an earlier period ended with it)."""
    found: dict[CounterKey, CounterHold] = {}
    for key, delta, period_start in holds:
        known = found.get(key)
        if known is None or _later(period_start, known.period_start):
            found[key] = CounterHold(exact(delta), period_start)
        elif known.period_start == period_start:
            found[key] = CounterHold(exact(known.delta) + exact(delta), period_start)
    return found


def _later(start: datetime | None, than: datetime | None) -> bool:
    return start is not None and (than is None or start > than)


def with_quantity(item: TypedItem, quantity: Decimal) -> TypedItem:
    """``item`` with its quantity property set to ``quantity``."""
    name = item.item_class.quantity
    assert name is not None
    spec = next(spec for spec in item.item_class.properties if spec.name == name)
    value: Decimal | int = int(quantity) if spec.type is PropertyType.INTEGER else quantity
    return replace(item, properties={**item.properties, name: value})

"""The maximum affordable quantity: inverting the price function by monotone search.

A session asks how much usage the money available can buy. The answer is the
largest quantity on the charge's increment grid whose price (allowances, tiers,
connect fees and rounding applied) fits. The search only evaluates the pure
price function, so it prices exactly as charging will; the grid's quantities are
computed exactly (no decimal context rounds them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction

from kopek.domain.catalog import (
    AllowanceNode,
    CapNode,
    Catalog,
    ChargePlan,
    ConnectFeeNode,
    DiscountNode,
    PrefixNode,
    PriceNode,
    PropertyType,
    RangeNode,
    RateNode,
    ScheduleNode,
    SumNode,
    SwitchNode,
    TiersNode,
)
from kopek.domain.item import TypedItem
from kopek.domain.master import Contract
from kopek.money import ZERO, Exact, exact, exact_decimal, ratio

PriceOf = Callable[[Decimal], bool]
"""Given a quantity (in the item's quantity unit), whether its price fits what is available."""


def grid_step(catalog: Catalog, contract: Contract, item: TypedItem) -> Decimal:
    """The quantity step of the grants for ``item``: the finest rate increment that prices it.

    In the item's quantity unit; one unit when no rate of the applicable charges has an
    increment. A grant is a quantity of the item, so the step is a multiple of that increment
    that the item can carry exactly: a finite decimal (an increment of one second on a quantity
    in minutes makes steps of three seconds, 0.05 minutes), whole for an integer quantity.
    """
    unit = item.item_class.quantity_unit
    if unit is None:
        return Decimal(1)
    factor = int(unit.base_factor)
    kept = catalog.derived(_INCREMENTS_KEY, _no_increments)
    steps: list[Exact] = []
    for contract_item in contract.items:
        plan = catalog.charge_plan(contract_item.charge_plan, item.consumption_date)
        if plan is not None:
            steps.extend(_increments(kept, plan, item.item_class.name, factor))
    if not steps:
        return Decimal(1)
    step = Fraction(ratio(min(steps), factor))
    spec = item.item_class.property_spec(item.item_class.quantity or "")
    whole = spec is not None and spec.type is PropertyType.INTEGER
    return exact_decimal(step * _carried(step.denominator, whole=whole))


_INCREMENTS_KEY = "quota.increments"
"""The key of :func:`_increments`' results among what is derived from a catalog (:meth:`Catalog.derived`)."""

_Increments = dict[tuple[int, str, int], tuple[ChargePlan, tuple[Exact, ...]]]


def _no_increments(_catalog: Catalog) -> _Increments:
    return {}


def _increments(kept: _Increments, plan: ChargePlan, item_class: str, factor: int) -> tuple[Exact, ...]:
    """The increments, in base units (``factor`` for a rate without one), of the rates of ``plan``'s charges of
    ``item_class``: found by walking the charges' price trees once per plan version, item class and unit, and kept with
    the catalog, whose plans they belong to."""
    key = (id(plan), item_class, factor)
    found = kept.get(key)
    if found is None or found[0] is not plan:
        increments = tuple(
            exact(rate.increment * rate.unit.base_factor) if rate.increment is not None else factor
            for charge in plan.charges
            if charge.item_class == item_class
            for rate in _rates(charge.price)
        )
        found = kept[key] = (plan, increments)
    return found[1]


def _carried(denominator: int, *, whole: bool) -> int:
    """The least multiplier that turns a step of denominator ``denominator`` into a finite decimal (into an integer
    when ``whole``)."""
    if whole:
        return denominator
    rest = denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    return rest


def _rates(node: PriceNode) -> Iterator[RateNode]:
    if isinstance(node, RateNode):
        yield node
    elif isinstance(node, ConnectFeeNode | AllowanceNode) and node.then is not None:
        yield from _rates(node.then)
    elif isinstance(node, SumNode):
        for part in node.parts:
            yield from _rates(part)
    elif isinstance(node, TiersNode):
        for band in node.bands:
            yield from _rates(band.price)
    elif isinstance(node, DiscountNode | CapNode):
        yield from _rates(node.price)
    elif isinstance(node, SwitchNode | PrefixNode | RangeNode | ScheduleNode):
        for branch in _branches(node):
            yield from _rates(branch)


def _branches(node: SwitchNode | PrefixNode | RangeNode | ScheduleNode) -> list[PriceNode]:
    if isinstance(node, ScheduleNode):
        branches = [window.price for window in node.windows]
    elif isinstance(node, SwitchNode):
        branches = list(node.cases.values())
    elif isinstance(node, PrefixNode):
        branches = list(node.prefixes.values())
    else:
        branches = [band.price for band in node.ranges]
    return branches + ([node.default] if node.default is not None else [])


def max_affordable(fits: PriceOf, *, step: Decimal, limit: Decimal) -> Decimal:
    """The largest ``k * step`` not above ``limit`` whose price fits; zero when not even one step fits.

    Assumes the price does not decrease when the quantity grows (true for every
    node but ``volume`` tiers, where the grant found still fits but may not be the
    largest). Evaluates the price once when the whole limit fits (a session's usual
    request), else about ``2 * log2(limit / step)`` times more.
    """
    assert step > 0 and limit >= 0, "the grid step is positive and the limit not negative"
    exact_step = exact(step)
    steps_max = math.floor(Fraction(exact(limit)) / exact_step)

    def at(steps: int) -> Decimal:
        return exact_decimal(exact_step * steps)

    if steps_max == 0:
        return ZERO
    if fits(at(steps_max)):
        return at(steps_max)
    if steps_max == 1 or not fits(at(1)):
        return ZERO
    low, high = 1, 2
    while high < steps_max and fits(at(high)):
        low, high = high, high * 2
    high = min(high, steps_max)
    # Invariant: low fits, high does not.
    while high - low > 1:
        middle = (low + high) // 2
        if fits(at(middle)):
            low = middle
        else:
            high = middle
    return at(low)


def on_grid(quantity: Decimal, step: Decimal) -> Decimal:
    """``quantity`` rounded up to a whole number of steps, exactly: the increment bills the whole step anyway."""
    exact_step: Exact = exact(step)
    return exact_decimal(math.ceil(Fraction(exact(quantity)) / exact_step) * exact_step)

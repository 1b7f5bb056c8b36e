"""Evaluation of pricing trees: the price of a quantity under one charge.

Quantities travel through the tree in the base unit of their dimension (seconds,
bytes, events). Nodes that consume counters (allowances) read and write a
:class:`CounterView`, a scratch copy owned by one rating call, so evaluation stays
a pure function of its inputs.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from kopek.domain.catalog import (
    AllowanceNode,
    ConnectFeeNode,
    CounterSpec,
    FlatNode,
    NoAccessNode,
    PrefixNode,
    PriceNode,
    RangeNode,
    RateNode,
    SumNode,
    SwitchNode,
    TierMode,
    TiersNode,
)
from kopek.domain.item import PropertyValue, property_text
from kopek.domain.units import Unit
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, Reason
from kopek.money import RATING_PRECISION_DIGITS, ZERO, RoundingMode, ceil_to_multiple, quantize
from kopek.rating.outcome import CounterKey, Notification, NotificationKind

#: Significant digits kept when a counter is read back in base units. A counter in
#: minutes or hours holds seconds divided by 60 or 3600, which Decimal rounds at
#: RATING_PRECISION_DIGITS; the base factors have at most 10 digits, so rounding the
#: product back to fewer digits cancels that rounding: 52 s then 8 s use up exactly
#: one free minute instead of leaving a remainder that an increment would bill.
COUNTER_BASE_DIGITS: Final = RATING_PRECISION_DIGITS - 10


@dataclass(slots=True)
class CounterView:
    """Counter values seen by one rating call: the stored values plus this call's changes."""

    values: dict[CounterKey, Decimal]
    specs: dict[str, CounterSpec]
    keys: dict[str, CounterKey]
    notifications: list[Notification] = field(default_factory=list)

    def get(self, name: str) -> Decimal:
        key = self.keys[name]
        return self.values.get(key, self.specs[name].initial)

    def set(self, name: str, value: Decimal) -> None:
        self.values[self.keys[name]] = value

    def unit(self, name: str) -> Unit:
        return self.specs[name].unit

    def get_base(self, name: str) -> Decimal:
        """The counter's value in base units (seconds, bytes, events), to COUNTER_BASE_DIGITS digits."""
        value = self.unit(name).to_base(self.get(name))
        if value == 0:
            return ZERO
        decimals = COUNTER_BASE_DIGITS - value.adjusted() - 1
        return quantize(value, decimals=decimals, mode=RoundingMode.HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PricingInput:
    """What a node may look at: the item's typed properties and its quantity's unit."""

    properties: Mapping[str, PropertyValue]
    quantity_unit: Unit | None


def price(node: PriceNode, quantity: Decimal, given: PricingInput, counters: CounterView) -> Decimal:
    """The unrounded amount of ``quantity`` (base units) under ``node``."""
    if isinstance(node, FlatNode):
        return node.amount
    if isinstance(node, ConnectFeeNode):
        rest = price(node.then, quantity, given, counters) if node.then is not None else ZERO
        return node.amount + rest
    if isinstance(node, SumNode):
        return sum((price(part, quantity, given, counters) for part in node.parts), ZERO)
    if isinstance(node, RateNode):
        return _price_rate(node, quantity, given)
    if isinstance(node, TiersNode):
        return _price_tiers(node, quantity, given, counters)
    if isinstance(node, AllowanceNode):
        return _price_allowance(node, quantity, given, counters)
    if isinstance(node, NoAccessNode):
        # Only this notification travels with the refusal: the others describe changes
        # (an allowance used up) that the refusal undoes.
        raise IllegalStateError(
            code=Code.SERVICE_NOT_ACCESSIBLE,
            reason=Reason.NOT_AUTHORIZED,
            message=node.message,
            notifications=(Notification(NotificationKind.NO_ACCESS, node.message),),
        )
    return price(_choose(node, given), quantity, given, counters)


def _price_rate(node: RateNode, quantity: Decimal, given: PricingInput) -> Decimal:
    per = node.per
    if node.per_property is not None:
        value = given.properties.get(node.per_property)
        per = Decimal(value) if isinstance(value, Decimal | int) and not isinstance(value, bool) else ZERO
        if per <= 0:
            raise InvalidConfigurationError(
                code=Code.DIVISION_BY_ZERO,
                message=f"rate divides by property {node.per_property!r}, which is {per}",
            )
    billed = max(quantity, node.unit.to_base(node.minimum))
    if node.increment is not None:
        billed = ceil_to_multiple(billed, node.unit.to_base(node.increment))
    return billed * node.amount / (per * node.unit.base_factor)


def _price_tiers(node: TiersNode, quantity: Decimal, given: PricingInput, counters: CounterView) -> Decimal:
    unit = node.unit or (counters.unit(node.counter) if node.counter else given.quantity_unit) or Unit.EVENTS
    start = counters.get_base(node.counter) if node.counter else ZERO
    end = start + quantity
    # The last band is open-ended whatever its up_to, so no usage is left without a price.
    bounds = [(unit.to_base(band.up_to) if band.up_to is not None else None) for band in node.bands[:-1]] + [None]
    if node.mode is TierMode.VOLUME or quantity == 0:
        reach = end if node.mode is TierMode.VOLUME else start
        index = _band_reaching(bounds, reach, inclusive=node.mode is TierMode.VOLUME)
        return price(node.bands[index].price, quantity, given, counters)
    total = ZERO
    lower = ZERO
    for band, upper in zip(node.bands, bounds, strict=True):
        part = min(end, upper if upper is not None else end) - max(start, lower)
        if part > 0:
            total += price(band.price, part, given, counters)
        if upper is None or upper >= end:
            break
        lower = upper
    return total


def _band_reaching(bounds: list[Decimal | None], position: Decimal, *, inclusive: bool) -> int:
    for index, upper in enumerate(bounds):
        if upper is None or position < upper or (inclusive and position == upper):
            return index
    return len(bounds) - 1


def _price_allowance(node: AllowanceNode, quantity: Decimal, given: PricingInput, counters: CounterView) -> Decimal:
    unit = counters.unit(node.counter)
    left = max(counters.get_base(node.counter), ZERO)
    covered = min(quantity, left)
    if covered > 0:
        after = ZERO if covered == left else counters.get(node.counter) - unit.from_base(covered)
        counters.set(node.counter, after)
        if after <= 0:
            counters.notifications.append(
                Notification(NotificationKind.ALLOWANCE_EXHAUSTED, f"allowance {node.counter!r} is used up", {"counter": node.counter})
            )
    rest = quantity - covered
    amount = price(node.then, rest, given, counters)
    # An allowance with units left covers the whole item, a zero quantity included.
    # The child is still evaluated so that a barred branch (no_access) refuses the
    # item, but a zero rest must not bill the child's minimum or connect fee.
    return ZERO if rest == 0 and left > 0 else amount


def _choose(node: SwitchNode | PrefixNode | RangeNode, given: PricingInput) -> PriceNode:
    value = given.properties.get(node.property)
    chosen: PriceNode | None = None
    if value is not None and isinstance(node, SwitchNode):
        chosen = node.cases.get(property_text(value))
    elif value is not None and isinstance(node, PrefixNode):
        text = property_text(value)
        matches = [prefix for prefix in node.prefixes if text.startswith(prefix)]
        chosen = node.prefixes[max(matches, key=len)] if matches else None
    elif isinstance(value, Decimal | int) and not isinstance(value, bool) and isinstance(node, RangeNode):
        chosen = next(
            (band.price for band in node.ranges if (band.from_ is None or band.from_ <= value) and (band.to is None or value < band.to)),
            None,
        )
    chosen = chosen if chosen is not None else node.default
    if chosen is None:
        raise InvalidConfigurationError(
            code=Code.NO_PRICE_FOR_VALUE,
            message=f"{node.type} on {node.property!r} has no price for {property_text(value) if value is not None else 'no value'}",
        )
    return chosen


def guard_arithmetic(error: decimal.DecimalException) -> InvalidConfigurationError:
    """Turn a decimal fault raised while pricing into the catalog error it reveals."""
    code = Code.DIVISION_BY_ZERO if isinstance(error, decimal.DivisionByZero) else Code.NO_PRICE_FOR_VALUE
    return InvalidConfigurationError(code=code, message=f"arithmetic fault while pricing: {type(error).__name__}")

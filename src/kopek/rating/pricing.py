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
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from kopek import limits
from kopek.domain.catalog import (
    AllowanceNode,
    CapNode,
    ConnectFeeNode,
    CounterSpec,
    DayKind,
    DiscountNode,
    FlatNode,
    NoAccessNode,
    PrefixNode,
    PriceNode,
    RangeNode,
    RateNode,
    ScheduleNode,
    SumNode,
    SwitchNode,
    TierMode,
    TiersNode,
    minutes_of_day,
)
from kopek.domain.item import PropertyValue, property_text
from kopek.domain.units import Dimension, Unit
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, InvalidError, Reason
from kopek.money import RATING_PRECISION_DIGITS, ZERO, RoundingMode, ceil_to_multiple, quantize, to_text
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
    """What a node may look at: the item's typed properties, its quantity's unit, when the
    usage started (``None``: unknown, which a ``schedule`` node refuses) and the catalog's
    holiday calendars by name."""

    properties: Mapping[str, PropertyValue]
    quantity_unit: Unit | None
    consumption_date: datetime | None = None
    calendars: Mapping[str, frozenset[date]] = field(default_factory=dict)


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
    if isinstance(node, ScheduleNode):
        return _price_schedule(node, quantity, given, counters)
    if isinstance(node, DiscountNode):
        return price(node.price, quantity, given, counters) * (_HUNDRED - node.percent) / _HUNDRED
    if isinstance(node, CapNode):
        return _price_cap(node, quantity, given, counters)
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


def _price_cap(node: CapNode, quantity: Decimal, given: PricingInput, counters: CounterView) -> Decimal:
    amount = price(node.price, quantity, given, counters)
    if node.counter is None:
        return min(amount, node.maximum)
    let_through = counters.get(node.counter)
    capped = max(min(amount, node.maximum - let_through), ZERO)
    counters.set(node.counter, let_through + capped)
    # Told once: by the item that reaches the cap, not by each free item after it.
    if let_through < node.maximum <= let_through + capped:
        counters.notifications.append(
            Notification(
                NotificationKind.CAP_REACHED,
                f"cap {node.counter!r} of {to_text(node.maximum)} is reached",
                {"counter": node.counter, "maximum": to_text(node.maximum)},
            )
        )
    return capped


def _price_schedule(node: ScheduleNode, quantity: Decimal, given: PricingInput, counters: CounterView) -> Decimal:
    start = given.consumption_date
    if start is None:
        raise InvalidConfigurationError(code=Code.NO_PRICE_FOR_VALUE, message="schedule needs the consumption date of the item")
    zone = ZoneInfo(node.time_zone)
    holidays = given.calendars.get(node.calendar, frozenset()) if node.calendar is not None else frozenset()
    if given.quantity_unit is None or given.quantity_unit.dimension is not Dimension.TIME or quantity <= 0:
        return price(_window_price(node, _window_at(node, start, zone, holidays), start), quantity, given, counters)
    total = ZERO
    for index, part in _schedule_parts(node, start.astimezone(UTC), quantity, zone, holidays):
        total += price(_window_price(node, index, start), part, given, counters)
    return total


def _schedule_parts(
    node: ScheduleNode, start: datetime, quantity: Decimal, zone: ZoneInfo, holidays: frozenset[date]
) -> list[tuple[int | None, Decimal]]:
    """The duration ``quantity`` (seconds from ``start``) cut at window edges, as (window index, seconds).

    Adjacent parts under the same window are merged, so a cut where the window does
    not change (midnight inside a weekend window, a wall time in a DST gap) does not
    make a child's increment or minimum apply twice.
    """
    parts: list[tuple[int | None, Decimal]] = []
    position = start
    left = quantity
    for _ in range(limits.SCHEDULE_EDGES_MAX + 1):
        if left <= 0:
            return parts
        index = _window_at(node, position, zone, holidays)
        edge = _next_edge(node, position, zone)
        span = edge - position
        part = min(left, Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds).scaleb(-6))
        if parts and parts[-1][0] == index:
            parts[-1] = (index, parts[-1][1] + part)
        else:
            parts.append((index, part))
        left -= part
        position = edge
    raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"a usage crosses more than {limits.SCHEDULE_EDGES_MAX} schedule edges")


def _next_edge(node: ScheduleNode, position: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after ``position`` (UTC) at which the window holding the usage may
    change: a window's edge, a local midnight, or a change of the zone's UTC offset (DST)."""
    edges = {0} | {minutes_of_day(window.from_) for window in node.windows} | {minutes_of_day(window.to) for window in node.windows}
    today = position.astimezone(zone).date()
    # Both folds: a wall time repeated when clocks go back is an edge twice. Instants are
    # compared in UTC, because aware datetimes sharing one tzinfo compare by wall time.
    candidates = (
        datetime.combine(day, time(minutes // 60, minutes % 60, fold=fold), tzinfo=zone).astimezone(UTC)
        for day in (today, today + timedelta(days=1))
        for minutes in edges
        if minutes < 1440
        for fold in (0, 1)
    )
    edge = min(candidate for candidate in candidates if candidate > position)
    if position.astimezone(zone).utcoffset() != edge.astimezone(zone).utcoffset():
        return _offset_change(position, edge, zone)
    return edge


def _offset_change(position: datetime, edge: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second after ``position`` where ``zone``'s UTC offset differs from its
    offset at ``position``, found by bisection (offset changes happen on whole seconds)."""
    before = position.astimezone(zone).utcoffset()
    second = timedelta(seconds=1)
    low = (position - _EPOCH) // second
    high = -((_EPOCH - edge) // second)
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * second).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return _EPOCH + high * second


_HUNDRED: Final = Decimal(100)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _window_at(node: ScheduleNode, moment: datetime, zone: ZoneInfo, holidays: frozenset[date]) -> int | None:
    """The index of the most specific window holding ``moment``: fewest kinds of day, then
    the shortest span, then the first listed; ``None`` when no window holds it."""
    local = moment.astimezone(zone)
    day = DayKind.HOLIDAY if local.date() in holidays else tuple(DayKind)[local.weekday()]
    minute = local.hour * 60 + local.minute
    holding = [
        (len(window.days), window.span_minutes, index)
        for index, window in enumerate(node.windows)
        if day in window.days and minutes_of_day(window.from_) <= minute < minutes_of_day(window.to)
    ]
    return min(holding)[2] if holding else None


def _window_price(node: ScheduleNode, index: int | None, start: datetime) -> PriceNode:
    chosen = node.windows[index].price if index is not None else node.default
    if chosen is None:
        raise InvalidConfigurationError(
            code=Code.NO_PRICE_FOR_VALUE, message=f"schedule in {node.time_zone} has no window for a usage started at {start.isoformat()}"
        )
    return chosen


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

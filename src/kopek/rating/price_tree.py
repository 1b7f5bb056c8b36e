"""A pricing tree compiled into Python closures, once per catalog version, evaluated exactly.

A charge's tree is compiled for one **denominator**, fixed when it is compiled: the least common
multiple of the denominators of its constants (its amounts, and each rate's amount over its ``per``
and unit). Every node's closure returns its amount *times that denominator*, its constants scaled
once; with whole quantities the whole tree is evaluated in Python integers, and a quantity or a
counter with a fraction (a call of 125.5 s) makes the same closures compute with
:class:`fractions.Fraction`. Either way nothing is rounded: the charge rounds the amount once
(:func:`kopek.money.round_exact`).

Quantities are in base units (seconds, bytes, events). What a tree looks at while it prices one item
(properties, consumption date, counters by slot, in base units) it asks of a :class:`Pricing`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from kopek import limits
from kopek.domain.catalog import (
    AllowanceNode,
    CapNode,
    ConnectFeeNode,
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
)
from kopek.domain.item import PropertyValue, property_text
from kopek.domain.outcome import Notification, NotificationKind
from kopek.domain.units import Dimension, Unit
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, Reason
from kopek.money import Exact, exact, ratio, to_text
from kopek.rating.schedule_windows import ScheduleWindows


class Pricing(Protocol):
    """What a compiled node may look at and change while it prices one item."""

    properties: Mapping[str, PropertyValue]
    at: datetime

    def read(self, slot: int) -> Exact:
        """The value of the plan's counter ``slot`` now, in base units."""

    def write(self, slot: int, value: Exact) -> None:
        """Set the plan's counter ``slot`` to ``value`` (base units); the slot was read first."""

    def notify(self, notification: Notification) -> None: ...


PriceFn = Callable[[Exact, Pricing], Exact]
"""A compiled node: ``price(quantity, pricing)`` is its amount times the tree's denominator, exact."""


@dataclass(frozen=True, slots=True)
class TreeScope:
    """What compiling a charge's tree needs to know: the slot and unit of each counter of its plan, the unit
    of the quantity of the item class it prices, and the catalog's holiday calendars."""

    counters: Mapping[str, tuple[int, Unit]]
    quantity_unit: Unit | None
    calendars: Mapping[str, frozenset[date]]
    traced: bool = False
    """Whether each node's closure records its part in a :class:`NodeTrace` (price enquiries only: charging
    compiles untraced closures)."""


@dataclass(frozen=True, slots=True)
class NodePrice:
    """One node's part in pricing one item, for a price enquiry's breakdown.

    ``depth``: 0 for the charge's root node, one more for each node below. ``node``: its type
    (``rate``, ``allowance``, ...); ``detail``: what it looked at (the property or counter, the
    amount per unit), empty when nothing. ``quantity``: what it priced, in the item's quantity unit
    (an allowance's child prices what the allowance left). ``amount``: its amount, exact and not
    rounded (only the charge's total is). A node that prices parts of the usage (a schedule's window
    crossed at an edge) appears once per part.
    """

    depth: int
    node: str
    detail: str
    quantity: Exact
    amount: Exact


class NodeTrace:
    """The nodes a traced tree went through while it priced one item, in the order they were entered."""

    __slots__ = ("depth", "entries")

    def __init__(self) -> None:
        self.depth = 0
        self.entries: list[NodePrice | None] = []

    def nodes(self) -> tuple[NodePrice, ...]:
        return tuple(entry for entry in self.entries if entry is not None)


@dataclass(frozen=True, slots=True)
class Priced:
    """A compiled tree: ``price(quantity, pricing)`` is its amount times ``denominator``."""

    price: PriceFn
    denominator: int


def compile_tree(node: PriceNode, scope: TreeScope) -> Priced:
    """``node`` and its subtree as closures, counted in the least denominator that keeps them whole."""
    denominator = denominator_of(node)
    return Priced(compile_price(node, scope, denominator), denominator)


def denominator_of(node: PriceNode) -> int:
    """The least denominator in which ``node``'s amounts are whole for whole quantities."""
    if isinstance(node, FlatNode):
        return _denominator(node.amount)
    if isinstance(node, ConnectFeeNode):
        return math.lcm(_denominator(node.amount), denominator_of(node.then) if node.then is not None else 1)
    if isinstance(node, RateNode):
        if node.per_property is not None:
            return (Fraction(node.amount) / node.unit.base_factor).denominator
        return (Fraction(node.amount) / (Fraction(node.per) * node.unit.base_factor)).denominator
    if isinstance(node, AllowanceNode):
        return denominator_of(node.then)
    if isinstance(node, DiscountNode):
        return denominator_of(node.price) * _kept(node).denominator
    if isinstance(node, CapNode):
        return math.lcm(_denominator(node.maximum), denominator_of(node.price))
    if isinstance(node, NoAccessNode):
        return 1
    return math.lcm(*(denominator_of(child) for child in _children(node)))


def _children(node: SumNode | TiersNode | SwitchNode | PrefixNode | RangeNode | ScheduleNode) -> list[PriceNode]:
    if isinstance(node, SumNode):
        children = list(node.parts)
    elif isinstance(node, TiersNode):
        children = [band.price for band in node.bands]
    elif isinstance(node, RangeNode):
        children = [band.price for band in node.ranges]
    elif isinstance(node, ScheduleNode):
        children = [window.price for window in node.windows]
    else:
        children = list(_cases(node).values())
    return children + ([node.default] if not isinstance(node, SumNode | TiersNode) and node.default is not None else [])


def _denominator(amount: Decimal) -> int:
    return amount.as_integer_ratio()[1]


def _scaled(amount: Decimal, denominator: int) -> int:
    """``amount`` counted in ``1 / denominator`` (a multiple of its own denominator)."""
    numerator, own = amount.as_integer_ratio()
    return numerator * (denominator // own)


def _kept(node: DiscountNode) -> Fraction:
    return (100 - Fraction(node.percent)) / 100


def compile_price(node: PriceNode, scope: TreeScope, denominator: int) -> PriceFn:
    """``node`` as a closure counting its amount in ``1 / denominator`` (a multiple of :func:`denominator_of`)."""
    price = _compile_node(node, scope, denominator)
    return _traced(node, price, scope, denominator) if scope.traced else price


def _traced(node: PriceNode, price: PriceFn, scope: TreeScope, denominator: int) -> PriceFn:
    """``price`` recording its part (:class:`NodePrice`) in the :class:`NodeTrace` of the item being priced."""
    detail = _detail(node)
    factor = scope.quantity_unit.base_factor if scope.quantity_unit is not None else 1

    def traced(quantity: Exact, pricing: Pricing) -> Exact:
        trace: NodeTrace | None = getattr(pricing, "trace", None)
        if trace is None:
            return price(quantity, pricing)
        index = len(trace.entries)
        trace.entries.append(None)
        depth = trace.depth
        trace.depth = depth + 1
        try:
            amount = price(quantity, pricing)
        finally:
            trace.depth = depth
        trace.entries[index] = NodePrice(depth, node.type, detail, ratio(quantity, factor), ratio(amount, denominator))
        return amount

    return traced


def _detail(node: PriceNode) -> str:
    """What a node of a breakdown looked at, in a few words."""
    if isinstance(node, FlatNode | ConnectFeeNode):
        return to_text(node.amount)
    if isinstance(node, RateNode):
        per = node.per_property or to_text(node.per)
        return f"{to_text(node.amount)} per {per} {node.unit.value}"
    if isinstance(node, SwitchNode | PrefixNode | RangeNode):
        return node.property
    if isinstance(node, AllowanceNode):
        return node.counter
    if isinstance(node, TiersNode):
        return f"{node.mode.value} on {node.counter or 'quantity'}"
    if isinstance(node, DiscountNode):
        return f"{to_text(node.percent)}%"
    if isinstance(node, CapNode):
        return to_text(node.maximum) + (f" in {node.counter}" if node.counter is not None else "")
    if isinstance(node, ScheduleNode):
        return node.time_zone
    return ""


def _compile_node(node: PriceNode, scope: TreeScope, denominator: int) -> PriceFn:
    if isinstance(node, FlatNode):
        amount = _scaled(node.amount, denominator)
        return lambda quantity, pricing: amount
    if isinstance(node, ConnectFeeNode):
        return _connect_fee(node, scope, denominator)
    if isinstance(node, SumNode):
        return _sum([compile_price(part, scope, denominator) for part in node.parts])
    if isinstance(node, RateNode):
        return _rate(node, denominator)
    if isinstance(node, TiersNode):
        return _tiers(node, scope, denominator)
    if isinstance(node, AllowanceNode):
        return _allowance(node, scope, denominator)
    if isinstance(node, DiscountNode):
        return _discount(node, scope, denominator)
    if isinstance(node, CapNode):
        return _cap(node, scope, denominator)
    if isinstance(node, NoAccessNode):
        return _no_access(node)
    if isinstance(node, ScheduleNode):
        return _schedule(node, scope, denominator)
    return _choice(node, scope, denominator)


def _connect_fee(node: ConnectFeeNode, scope: TreeScope, denominator: int) -> PriceFn:
    fee = _scaled(node.amount, denominator)
    if node.then is None:
        return lambda quantity, pricing: fee
    if isinstance(node.then, TiersNode) and not scope.traced:
        # Untraced, the fee is added inside the tiers (a call less); traced, each node records its own part.
        return _tiers(node.then, scope, denominator, fee)
    then = compile_price(node.then, scope, denominator)
    return lambda quantity, pricing: fee + then(quantity, pricing)


def _sum(parts: Sequence[PriceFn]) -> PriceFn:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda quantity, pricing: first(quantity, pricing) + second(quantity, pricing)

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        total: Exact = 0
        for part in parts:
            total += part(quantity, pricing)
        return total

    return price


def _rate(node: RateNode, denominator: int) -> PriceFn:
    """``max(quantity, minimum)`` rounded up to a multiple of ``increment``, times ``amount / (per * unit)``."""
    factor = node.unit.base_factor
    minimum = exact(node.minimum * factor)
    increment = exact(node.increment * factor) if node.increment is not None else None
    if node.per_property is not None:
        return _rate_per_property(node, denominator, minimum, increment)
    per_base = Fraction(node.amount) / (Fraction(node.per) * factor) * denominator
    assert per_base.denominator == 1, "the tree's denominator makes every rate whole"
    price = per_base.numerator
    if increment is None and minimum == 0:
        return lambda quantity, pricing: quantity * price
    if increment is None:
        return lambda quantity, pricing: (quantity if quantity > minimum else minimum) * price
    if minimum == 0:
        return lambda quantity, pricing: -(-quantity // increment) * increment * price
    return lambda quantity, pricing: -(-(quantity if quantity > minimum else minimum) // increment) * increment * price


def _rate_per_property(node: RateNode, denominator: int, minimum: Exact, increment: Exact | None) -> PriceFn:
    name = node.per_property
    assert name is not None
    per_unit = Fraction(node.amount) / node.unit.base_factor * denominator
    assert per_unit.denominator == 1, "the tree's denominator makes every rate whole"
    price = per_unit.numerator

    def priced(quantity: Exact, pricing: Pricing) -> Exact:
        value = pricing.properties.get(name)
        per = exact(value) if isinstance(value, Decimal | int) and not isinstance(value, bool) else 0
        if per <= 0:
            shown = to_text(value) if isinstance(value, Decimal) else str(per)
            raise InvalidConfigurationError(code=Code.DIVISION_BY_ZERO, message=f"rate divides by property {name!r}, which is {shown}")
        billed = quantity if quantity > minimum else minimum
        if increment is not None:
            billed = -(-billed // increment) * increment
        return ratio(billed * price, per)

    return priced


def _tiers(node: TiersNode, scope: TreeScope, denominator: int, fee: int = 0) -> PriceFn:
    """The tiers' price, plus ``fee`` (a connect fee in front of them, added here to save a call per item)."""
    slot: int | None = None
    unit = node.unit or scope.quantity_unit or Unit.EVENTS
    if node.counter is not None:
        slot, counter_unit = scope.counters[node.counter]
        unit = node.unit or counter_unit
    factor = unit.base_factor
    # The last band is open-ended whatever its up_to, so no usage is left without a price.
    uppers = (*(exact(band.up_to * factor) if band.up_to is not None else None for band in node.bands[:-1]), None)
    rates = [band.price for band in node.bands if isinstance(band.price, RateNode) and band.price.per_property is None]
    if node.mode is TierMode.GRADUATED and len(rates) == len(node.bands) and not scope.traced:
        return _graduated_rates(tuple(zip(uppers, (_band_rate(rate, denominator) for rate in rates), strict=True)), slot, fee)
    bands = tuple(zip(uppers, (compile_price(band.price, scope, denominator) for band in node.bands), strict=True))
    price = _volume(bands, slot) if node.mode is TierMode.VOLUME else _graduated(bands, slot)
    return price if fee == 0 else lambda quantity, pricing: fee + price(quantity, pricing)


_BandRate = tuple[int, Exact, Exact | None]
"""A band priced by a plain rate: its price per base unit (times the tree's denominator), minimum and increment."""


def _band_rate(node: RateNode, denominator: int) -> _BandRate:
    factor = node.unit.base_factor
    per_base = Fraction(node.amount) / (Fraction(node.per) * factor) * denominator
    assert per_base.denominator == 1, "the tree's denominator makes every rate whole"
    return per_base.numerator, exact(node.minimum * factor), exact(node.increment * factor) if node.increment is not None else None


def _graduated_rates(bands: tuple[tuple[Exact | None, _BandRate], ...], slot: int | None, fee: int) -> PriceFn:
    """:func:`_graduated` for bands that are all plain rates, each rate applied in place (the commonest tiers: a first
    minute, then by the second), plus ``fee``."""
    flat = tuple((upper, *rate) for upper, rate in bands)
    if slot is None:
        return _graduated_rates_from_zero(flat, fee)

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        start = pricing.read(slot)
        if quantity == 0:
            for upper, rate, minimum, increment in flat:
                if upper is None or start < upper:
                    return fee + _billed(0, rate, minimum, increment)
        end = start + quantity
        total: Exact = fee
        lower: Exact = 0
        for upper, rate, minimum, increment in flat:
            last = upper is None or upper >= end
            part = (end if last else upper) - (start if start > lower else lower)  # type: ignore[operator]
            # Usage below the first band (a counter basis under zero) lies in no band: it prices nothing.
            if part > 0:
                if part < minimum:
                    part = minimum
                if increment is not None:
                    part = -(-part // increment) * increment
                total += part * rate
            if last:
                return total
            lower = upper  # type: ignore[assignment]
        raise AssertionError("the last band is open-ended")

    return price


def _graduated_rates_from_zero(flat: tuple[tuple[Exact | None, int, Exact, Exact | None], ...], fee: int) -> PriceFn:
    """:func:`_graduated_rates` without a counter: the usage starts at zero, so each band the usage goes past costs
    the same every time; each band is kept with its lower bound and the fee plus the price of the bands below it."""
    bands = []
    below: Exact = fee
    lower: Exact = 0
    for upper, rate, minimum, increment in flat:
        since = lower if lower > 0 else 0
        bands.append((upper, since, below, rate, minimum, increment))
        if upper is not None:
            if upper - since > 0:
                below += _billed(upper - since, rate, minimum, increment)
            lower = upper
    table = tuple(bands)
    # A zero quantity is priced by the band where the usage starts, with quantity zero.
    at_zero = fee + next(_billed(0, *band[3:]) for band in table if band[0] is None or band[0] > 0)

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        if quantity == 0:
            return at_zero
        for upper, lower, below, rate, minimum, increment in table:
            if upper is None or upper >= quantity:
                part = quantity - lower
                if part < minimum:
                    part = minimum
                if increment is not None:
                    part = -(-part // increment) * increment
                return below + part * rate
        raise AssertionError("the last band is open-ended")

    return price


def _billed(part: Exact, rate: int, minimum: Exact, increment: Exact | None) -> Exact:
    """A band's part of the usage priced by its plain rate: at least its minimum, rounded up to its increment."""
    if part < minimum:
        part = minimum
    if increment is not None:
        part = -(-part // increment) * increment
    return part * rate


_Bands = tuple[tuple[Exact | None, PriceFn], ...]


def _volume(bands: _Bands, slot: int | None) -> PriceFn:
    """The whole quantity priced by the first band whose upper bound is at or above the usage's end."""

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        end = quantity + pricing.read(slot) if slot is not None else quantity
        for upper, band in bands:
            if upper is None or end <= upper:
                return band(quantity, pricing)
        raise AssertionError("the last band is open-ended")

    return price


def _graduated(bands: _Bands, slot: int | None) -> PriceFn:
    """Each part of the usage (from the basis's start to start + quantity) priced by the band it falls in; a zero
    quantity by the band where the usage starts, with quantity zero. The first band starts at zero: usage below it (a
    counter basis under zero) lies in no band and prices nothing."""

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        start = pricing.read(slot) if slot is not None else 0
        if quantity == 0:
            for upper, band in bands:
                if upper is None or start < upper:
                    return band(0, pricing)
        end = start + quantity
        total: Exact = 0
        lower: Exact = 0
        for upper, band in bands:
            last = upper is None or upper >= end
            part = (end if last else upper) - (start if start > lower else lower)  # type: ignore[operator]
            if part > 0:
                total += band(part, pricing)
            if last:
                return total
            lower = upper  # type: ignore[assignment]
        raise AssertionError("the last band is open-ended")

    return price


def _allowance(node: AllowanceNode, scope: TreeScope, denominator: int) -> PriceFn:
    """Free units taken from the counter first; the rest priced by ``then``."""
    slot, _ = scope.counters[node.counter]
    then = compile_price(node.then, scope, denominator)
    exhausted = Notification(NotificationKind.ALLOWANCE_EXHAUSTED, f"allowance {node.counter!r} is used up", {"counter": node.counter})

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        value = pricing.read(slot)
        if value <= 0:
            return then(quantity, pricing)
        covered = quantity if quantity < value else value
        if covered > 0:
            after = value - covered
            pricing.write(slot, after)
            if after <= 0:
                pricing.notify(exhausted)
        rest = quantity - covered
        amount = then(rest, pricing)
        # An allowance with units left covers the whole item, a zero quantity included. The child is still
        # evaluated so that a barred branch (no_access) refuses the item, but a zero rest must not bill the
        # child's minimum or connect fee.
        return 0 if rest == 0 else amount

    return price


def _discount(node: DiscountNode, scope: TreeScope, denominator: int) -> PriceFn:
    """The child's amount times (100 - percent) / 100: the child counted in a denominator ``kept.denominator``
    times smaller, so that the product is whole."""
    kept = _kept(node)
    then = compile_price(node.price, scope, denominator // kept.denominator)
    numerator = kept.numerator
    return lambda quantity, pricing: then(quantity, pricing) * numerator


def _cap(node: CapNode, scope: TreeScope, denominator: int) -> PriceFn:
    most = _scaled(node.maximum, denominator)
    then = compile_price(node.price, scope, denominator)
    if node.counter is None:
        return lambda quantity, pricing: min(then(quantity, pricing), most)
    slot, _ = scope.counters[node.counter]
    text = to_text(node.maximum)
    reached = Notification(
        NotificationKind.CAP_REACHED, f"cap {node.counter!r} of {text} is reached", {"counter": node.counter, "maximum": text}
    )

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        amount = then(quantity, pricing)
        let_through = pricing.read(slot) * denominator
        capped = max(min(amount, most - let_through), 0)
        pricing.write(slot, ratio(let_through + capped, denominator))
        # Told once: by the item that reaches the cap, not by each free item after it.
        if let_through < most <= let_through + capped:
            pricing.notify(reached)
        return capped

    return price


def _no_access(node: NoAccessNode) -> PriceFn:
    message = node.message
    # Only this notification travels with the refusal: the others describe changes (an allowance used
    # up) that the refusal undoes.
    notifications = (Notification(NotificationKind.NO_ACCESS, message),)

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        raise IllegalStateError(
            code=Code.SERVICE_NOT_ACCESSIBLE, reason=Reason.NOT_AUTHORIZED, message=message, notifications=notifications
        )

    return price


def _schedule(node: ScheduleNode, scope: TreeScope, denominator: int) -> PriceFn:
    """The usage priced by the window of its local time; a duration cut at the edges it crosses, each part by its
    window; any other quantity by the window of its consumption date."""
    holidays = scope.calendars.get(node.calendar, frozenset()) if node.calendar is not None else frozenset()
    windows = ScheduleWindows(node, holidays)
    prices = tuple(compile_price(window.price, scope, denominator) for window in node.windows)
    otherwise = compile_price(node.default, scope, denominator) if node.default is not None else None
    duration = scope.quantity_unit is not None and scope.quantity_unit.dimension is Dimension.TIME

    def window_price(index: int | None, start: datetime) -> PriceFn:
        chosen = prices[index] if index is not None else otherwise
        if chosen is None:
            raise InvalidConfigurationError(
                code=Code.NO_PRICE_FOR_VALUE,
                message=f"schedule in {node.time_zone} has no window for a usage started at {start.isoformat()}",
            )
        return chosen

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        start = pricing.at
        if not duration or quantity <= 0:
            return window_price(windows.window_at(start), start)(quantity, pricing)
        total: Exact = 0
        for index, part in windows.parts(start, quantity):
            total += window_price(index, start)(part, pricing)
        return total

    return price


def _choice(node: SwitchNode | PrefixNode | RangeNode, scope: TreeScope, denominator: int) -> PriceFn:
    """A ``switch``, ``prefix`` or ``range``: the child chosen by a property of the item, else the default."""
    otherwise = compile_price(node.default, scope, denominator) if node.default is not None else None
    name = node.property

    def unpriced(value: PropertyValue | None) -> InvalidConfigurationError:
        shown = property_text(value) if value is not None else "no value"
        return InvalidConfigurationError(code=Code.NO_PRICE_FOR_VALUE, message=f"{node.type} on {name!r} has no price for {shown}")

    if isinstance(node, RangeNode):
        return _range(node, [compile_price(band.price, scope, denominator) for band in node.ranges], otherwise, unpriced)
    children = {key: compile_price(child, scope, denominator) for key, child in _cases(node).items()}
    if isinstance(node, SwitchNode):
        return _switch(name, children, otherwise, unpriced)
    return _prefix(name, children, otherwise, unpriced)


_Unpriced = Callable[[PropertyValue | None], InvalidConfigurationError]


def _unseen(quantity: Exact, pricing: Pricing) -> Exact:
    raise AssertionError("never priced: marks a value a prefix table has not met")


_UNSEEN: PriceFn = _unseen


def _cases(node: SwitchNode | PrefixNode) -> dict[str, PriceNode]:
    return node.cases if isinstance(node, SwitchNode) else node.prefixes


def _switch(name: str, cases: dict[str, PriceFn], otherwise: PriceFn | None, unpriced: _Unpriced) -> PriceFn:
    """The case whose key is the value's text; a text value is its own key, a boolean's is ``true``/``false``."""
    flags = {True: cases.get("true", otherwise), False: cases.get("false", otherwise)}

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        value = pricing.properties.get(name)
        kind = type(value)
        if kind is bool:
            chosen = flags[value]  # type: ignore[index]
        elif kind is str:
            chosen = cases.get(value, otherwise)  # type: ignore[arg-type]
        else:
            chosen = cases.get(property_text(value), otherwise) if value is not None else otherwise
        if chosen is None:
            raise unpriced(value)
        return chosen(quantity, pricing)

    return price


def _prefix(name: str, prefixes: dict[str, PriceFn], otherwise: PriceFn | None, unpriced: _Unpriced) -> PriceFn:
    """The longest prefix of the value's text: one dictionary per prefix length, the longest tried first."""
    by_length: dict[int, dict[str, PriceFn]] = {}
    for prefix, child in prefixes.items():
        by_length.setdefault(len(prefix), {})[prefix] = child
    tables = tuple((length, by_length[length]) for length in sorted(by_length, reverse=True))
    longest = tables[0][0] if tables else 0
    found: dict[str, PriceFn | None] = {}
    """The price of each value's leading ``longest`` characters met so far (they alone choose it): one look-up for the
    commonest values instead of one per prefix length."""

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        value = pricing.properties.get(name)
        if value is None:
            chosen = otherwise
        else:
            text = value if type(value) is str else property_text(value)
            head = text[:longest]
            chosen = found.get(head, _UNSEEN)
            if chosen is _UNSEEN:
                for length, table in tables:
                    chosen = table.get(head[:length])
                    if chosen is not None:
                        break
                else:
                    chosen = otherwise
                if len(found) < limits.PREFIXES_KEPT_MAX:
                    found[head] = chosen
        if chosen is None:
            raise unpriced(value)
        return chosen(quantity, pricing)

    return price


def _range(node: RangeNode, prices: Sequence[PriceFn], otherwise: PriceFn | None, unpriced: _Unpriced) -> PriceFn:
    """The first range that holds the numeric value, ``from`` <= value < ``to``."""
    bounds = tuple(
        (exact(band.from_) if band.from_ is not None else None, exact(band.to) if band.to is not None else None, child)
        for band, child in zip(node.ranges, prices, strict=True)
    )
    name = node.property

    def price(quantity: Exact, pricing: Pricing) -> Exact:
        value = pricing.properties.get(name)
        chosen = otherwise
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            number = exact(value)
            for low, high, child in bounds:
                if (low is None or low <= number) and (high is None or number < high):
                    chosen = child
                    break
        if chosen is None:
            raise unpriced(value)
        return chosen(quantity, pricing)

    return price

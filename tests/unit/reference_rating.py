"""A reference rater for the tests: the catalog interpreted node by node, in ``fractions.Fraction``.

It knows nothing of kopek's compiled rating (:mod:`kopek.rating.compiled`, :mod:`kopek.rating.price_tree`):
each item walks the catalog objects as they are, binds every counter of every plan again, converts
every value with :class:`Fraction`, and rounds with its own arithmetic. It is slow and plain on
purpose, so that the property tests can hold the compiled rater to it: the same amounts, counter
changes, notifications and refusals for every catalog and item they draw.

It shares the domain's records (catalog, items, contracts, outcome values, errors) and the calendar
cycles of :mod:`kopek.domain.periods`; nothing of rating.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from kopek import limits
from kopek.domain.catalog import (
    AllowanceNode,
    CapNode,
    Catalog,
    Charge,
    ChargePlan,
    ConnectFeeNode,
    CounterAddend,
    CounterReset,
    CounterScope,
    CounterSpec,
    DayKind,
    DiscountNode,
    FeeKind,
    FlatNode,
    NoAccessNode,
    PrefixNode,
    PriceNode,
    RangeNode,
    RateNode,
    ScheduleNode,
    SumNode,
    SwitchNode,
    ThresholdDirection,
    TierMode,
    TiersNode,
    minutes_of_day,
)
from kopek.domain.item import TypedItem, property_text
from kopek.domain.master import Contract, ContractItem
from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind
from kopek.domain.periods import Cycle
from kopek.domain.units import Dimension, Unit
from kopek.errors import Code, IllegalStateError, InvalidConfigurationError, InvalidError, PrerequisiteMissingError, Reason
from kopek.money import RoundingMode


def fraction(value: Any) -> Fraction:
    return Fraction(value)


def rounded(value: Fraction, decimals: int, mode: RoundingMode) -> Decimal:
    """``value`` rounded to ``decimals`` places with ``mode``, as ``Decimal.quantize`` would round it (a negative value
    rounded to zero keeps its sign)."""
    scaled = value * 10**decimals
    low = math.floor(scaled)
    rest = scaled - low
    if rest == 0 or mode is RoundingMode.FLOOR:
        units = low
    elif mode is RoundingMode.CEILING:
        units = low + 1
    elif mode is RoundingMode.DOWN:
        units = low if value > 0 else low + 1
    elif mode is RoundingMode.UP:
        units = low + 1 if value > 0 else low
    elif rest != Fraction(1, 2):
        units = low + 1 if rest > Fraction(1, 2) else low
    elif mode is RoundingMode.HALF_EVEN:
        units = low if low % 2 == 0 else low + 1
    else:
        units = low + 1 if value > 0 else low
    sign = "-" if value < 0 else ""
    return Decimal(f"{sign}{abs(units)}E-{decimals}")


@dataclass(frozen=True)
class Life:
    period_start: datetime | None = None
    expires_at: datetime | None = None


@dataclass
class Bound:
    key: CounterKey
    spec: CounterSpec
    cycle: Cycle | None


@dataclass
class Counters:
    """The counters one rating call has touched, in their own units, as Fractions."""

    state: Any
    at: datetime
    values: dict[CounterKey, Fraction] = field(default_factory=dict)
    before: dict[CounterKey, Fraction] = field(default_factory=dict)
    lives: dict[CounterKey, Life] = field(default_factory=dict)
    specs: dict[CounterKey, CounterSpec] = field(default_factory=dict)
    held: dict[CounterKey, Fraction] = field(default_factory=dict)
    """What the grants' holds added to each counter when it was read (nothing when none held it in its period)."""
    notifications: list[Notification] = field(default_factory=list)

    def get(self, counter: Bound) -> Fraction:
        if counter.key not in self.values:
            value, life = self._current(counter)
            self.values[counter.key] = self.before[counter.key] = value
            self.lives[counter.key] = life
            self.specs[counter.key] = counter.spec
        return self.values[counter.key]

    def set(self, counter: Bound, value: Fraction) -> None:
        self.get(counter)
        self.values[counter.key] = value

    def _current(self, counter: Bound) -> tuple[Fraction, Life]:
        value, life = self._stored(counter)
        hold = self.state.held.get(counter.key)
        if hold is not None and hold.period_start == life.period_start:
            self.held[counter.key] = fraction(hold.delta)
            value += fraction(hold.delta)
        return value, life

    def _stored(self, counter: Bound) -> tuple[Fraction, Life]:
        key, spec, state, at = counter.key, counter.spec, self.state, self.at
        start = counter.cycle.start_of(at) if counter.cycle is not None else None
        if key.scope is CounterScope.TRANSIENT:
            return fraction(spec.initial) + fraction(state.session_moves.get(key, 0)), Life()
        if key not in state.counters:
            return fraction(spec.initial), Life(start, None)
        value = fraction(state.counters[key])
        stored = state.lives.get(key)
        life = Life(stored.period_start, stored.expires_at) if stored is not None else Life()
        expires_at = life.expires_at
        if expires_at is not None and expires_at <= at:
            value, expires_at = fraction(spec.initial), None
        if start is None or (life.period_start is not None and life.period_start >= start):
            return value, Life(life.period_start if start is not None else None, expires_at)
        if life.period_start is None:
            return value, Life(start, expires_at)
        return fraction(spec.initial), Life(start, None)


@dataclass
class Pricing:
    """What nodes see: the item, its quantity's unit, the catalog's calendars, the counters by name."""

    item: TypedItem
    unit: Unit | None
    calendars: Mapping[str, frozenset[date]]
    bound: dict[str, Bound]
    counters: Counters

    def base(self, name: str) -> Fraction:
        counter = self.bound[name]
        return self.counters.get(counter) * counter.spec.unit.base_factor


def price(node: PriceNode, quantity: Fraction, given: Pricing) -> Fraction:
    """The exact amount of ``quantity`` (base units) under ``node``."""
    if isinstance(node, FlatNode):
        return fraction(node.amount)
    if isinstance(node, ConnectFeeNode):
        return fraction(node.amount) + (price(node.then, quantity, given) if node.then is not None else 0)
    if isinstance(node, SumNode):
        return sum((price(part, quantity, given) for part in node.parts), Fraction(0))
    if isinstance(node, RateNode):
        return _rate(node, quantity, given)
    if isinstance(node, TiersNode):
        return _tiers(node, quantity, given)
    if isinstance(node, AllowanceNode):
        return _allowance(node, quantity, given)
    if isinstance(node, ScheduleNode):
        return _schedule(node, quantity, given)
    if isinstance(node, DiscountNode):
        return price(node.price, quantity, given) * (100 - fraction(node.percent)) / 100
    if isinstance(node, CapNode):
        return _cap(node, quantity, given)
    if isinstance(node, NoAccessNode):
        raise IllegalStateError(
            code=Code.SERVICE_NOT_ACCESSIBLE,
            reason=Reason.NOT_AUTHORIZED,
            message=node.message,
            notifications=(Notification(NotificationKind.NO_ACCESS, node.message),),
        )
    return price(_choose(node, given), quantity, given)


def _rate(node: RateNode, quantity: Fraction, given: Pricing) -> Fraction:
    per = fraction(node.per)
    if node.per_property is not None:
        value = given.item.properties.get(node.per_property)
        per = fraction(value) if isinstance(value, Decimal | int) and not isinstance(value, bool) else Fraction(0)
        if per <= 0:
            raise InvalidConfigurationError(code=Code.DIVISION_BY_ZERO, message=f"rate divides by property {node.per_property!r}")
    factor = node.unit.base_factor
    billed = max(quantity, fraction(node.minimum) * factor)
    if node.increment is not None:
        step = fraction(node.increment) * factor
        billed = math.ceil(billed / step) * step
    return billed * fraction(node.amount) / (per * factor)


def _tiers(node: TiersNode, quantity: Fraction, given: Pricing) -> Fraction:
    unit = node.unit or (given.bound[node.counter].spec.unit if node.counter else given.unit) or Unit.EVENTS
    start = given.base(node.counter) if node.counter else Fraction(0)
    end = start + quantity
    bounds = [fraction(band.up_to) * unit.base_factor if band.up_to is not None else None for band in node.bands[:-1]] + [None]
    if node.mode is TierMode.VOLUME:
        index = next(i for i, upper in enumerate(bounds) if upper is None or end <= upper)
        return price(node.bands[index].price, quantity, given)
    if quantity == 0:
        index = next(i for i, upper in enumerate(bounds) if upper is None or start < upper)
        return price(node.bands[index].price, quantity, given)
    total = Fraction(0)
    lower = Fraction(0)
    for band, upper in zip(node.bands, bounds, strict=True):
        part = min(end, upper if upper is not None else end) - max(start, lower)
        if part > 0:
            total += price(band.price, part, given)
        if upper is None or upper >= end:
            break
        lower = upper
    return total


def _allowance(node: AllowanceNode, quantity: Fraction, given: Pricing) -> Fraction:
    counter = given.bound[node.counter]
    factor = counter.spec.unit.base_factor
    left = max(given.base(node.counter), Fraction(0))
    covered = min(quantity, left)
    if covered > 0:
        after = given.counters.get(counter) - covered / factor
        given.counters.set(counter, after)
        if after <= 0:
            given.counters.notifications.append(
                Notification(NotificationKind.ALLOWANCE_EXHAUSTED, f"allowance {node.counter!r} is used up", {"counter": node.counter})
            )
    rest = quantity - covered
    amount = price(node.then, rest, given)
    return Fraction(0) if rest == 0 and left > 0 else amount


def _cap(node: CapNode, quantity: Fraction, given: Pricing) -> Fraction:
    amount = price(node.price, quantity, given)
    maximum = fraction(node.maximum)
    if node.counter is None:
        return min(amount, maximum)
    counter = given.bound[node.counter]
    let_through = given.counters.get(counter)
    capped = max(min(amount, maximum - let_through), Fraction(0))
    given.counters.set(counter, let_through + capped)
    if let_through < maximum <= let_through + capped:
        text = format(node.maximum, "f")
        given.counters.notifications.append(
            Notification(
                NotificationKind.CAP_REACHED, f"cap {node.counter!r} of {text} is reached", {"counter": node.counter, "maximum": text}
            )
        )
    return capped


def _choose(node: SwitchNode | PrefixNode | RangeNode, given: Pricing) -> PriceNode:
    value = given.item.properties.get(node.property)
    chosen: PriceNode | None = None
    if value is not None and isinstance(node, SwitchNode):
        chosen = node.cases.get(property_text(value))
    elif value is not None and isinstance(node, PrefixNode):
        text = property_text(value)
        matches = [prefix for prefix in node.prefixes if text.startswith(prefix)]
        chosen = node.prefixes[max(matches, key=len)] if matches else None
    elif isinstance(value, Decimal | int) and not isinstance(value, bool) and isinstance(node, RangeNode):
        number = fraction(value)
        chosen = next(
            (
                band.price
                for band in node.ranges
                if (band.from_ is None or fraction(band.from_) <= number) and (band.to is None or number < fraction(band.to))
            ),
            None,
        )
    chosen = chosen if chosen is not None else node.default
    if chosen is None:
        shown = property_text(value) if value is not None else "no value"
        raise InvalidConfigurationError(code=Code.NO_PRICE_FOR_VALUE, message=f"{node.type} on {node.property!r} has no price for {shown}")
    return chosen


def _schedule(node: ScheduleNode, quantity: Fraction, given: Pricing) -> Fraction:
    start = given.item.consumption_date
    zone = ZoneInfo(node.time_zone)
    holidays = given.calendars.get(node.calendar, frozenset()) if node.calendar is not None else frozenset()
    if given.unit is None or given.unit.dimension is not Dimension.TIME or quantity <= 0:
        return price(_window_price(node, _window_at(node, start, zone, holidays), start), quantity, given)
    total = Fraction(0)
    position = start.astimezone(UTC)
    left = quantity
    parts: list[tuple[int | None, Fraction]] = []
    for _ in range(limits.SCHEDULE_EDGES_MAX + 1):
        if left <= 0:
            break
        index = _window_at(node, position, zone, holidays)
        edge = _next_edge(node, position, zone)
        span = edge - position
        part = min(left, Fraction(span.days * 86_400 + span.seconds) + Fraction(span.microseconds, 1_000_000))
        if parts and parts[-1][0] == index:
            parts[-1] = (index, parts[-1][1] + part)
        else:
            parts.append((index, part))
        left -= part
        position = edge
    else:
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message="too many schedule edges")
    for index, part in parts:
        total += price(_window_price(node, index, start), part, given)
    return total


def _next_edge(node: ScheduleNode, position: datetime, zone: ZoneInfo) -> datetime:
    edges = {0} | {minutes_of_day(window.from_) for window in node.windows} | {minutes_of_day(window.to) for window in node.windows}
    today = position.astimezone(zone).date()
    candidates = (
        datetime.combine(day, time(minutes // 60, minutes % 60, fold=fold), tzinfo=zone).astimezone(UTC)
        for day in (today, today + timedelta(days=1))
        for minutes in edges
        if minutes < 1440
        for fold in (0, 1)
    )
    edge = min(candidate for candidate in candidates if candidate > position)
    if position.astimezone(zone).utcoffset() != edge.astimezone(zone).utcoffset():
        return _first_changed_second(position, zone)
    return edge


def _first_changed_second(position: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second after ``position`` at which ``zone``'s offset differs (walked by bisection over epoch
    seconds)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    before = position.astimezone(zone).utcoffset()
    low = math.floor((position - epoch).total_seconds())
    high = low + 2 * 86_400
    while (epoch + timedelta(seconds=high)).astimezone(zone).utcoffset() == before:
        high += 2 * 86_400
    while high - low > 1:
        middle = (low + high) // 2
        if (epoch + timedelta(seconds=middle)).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return epoch + timedelta(seconds=high)


def _window_at(node: ScheduleNode, moment: datetime, zone: ZoneInfo, holidays: frozenset[date]) -> int | None:
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
        raise InvalidConfigurationError(code=Code.NO_PRICE_FOR_VALUE, message=f"schedule in {node.time_zone} has no window")
    return chosen


# ---- rating an item ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the reference rates an item to: charged items, counter changes (values as Fractions) and notifications."""

    charged_items: tuple[ChargedItem, ...]
    counter_changes: tuple[CounterChange, ...]
    notifications: tuple[Notification, ...]


def reference_rate(catalog: Catalog, state: Any, item: TypedItem) -> Outcome:
    """Price ``item`` under every applicable charge of ``state``'s contract (``state`` a ``RatingState``)."""
    at = item.consumption_date
    counters = Counters(state, at)
    plans = [(contract_item, _plan(catalog, contract_item, at)) for contract_item in state.contract.items]
    parents = _parent_counters(catalog, state.parent, at)
    charged = []
    unit = item.item_class.quantity_unit
    quantity = fraction(item.quantity) * (unit.base_factor if unit is not None else 1)
    for contract_item, plan in plans:
        bound = _bind(state, contract_item, plan, parents)
        given = Pricing(item, unit, catalog.holiday_dates, bound, counters)
        for charge in plan.charges:
            if charge.item_class == item.item_class.name:
                charged.append(_apply(charge, plan, contract_item, item, quantity, given))
    if not charged:
        raise IllegalStateError(code=Code.NO_CHARGE_FOR_ITEM_CLASS, reason=Reason.NOT_AUTHORIZED, message="no charge")
    changes = []
    crossings = []
    for key in sorted(counters.values):
        life = counters.lives[key]
        stored = state.lives.get(key)
        stored_life = Life(stored.period_start, stored.expires_at) if stored is not None else Life()
        before, after = counters.before[key], counters.values[key]
        if before == after and (key not in state.counters or life == stored_life):
            continue
        # Priced on top of the holds; the change, and the thresholds it crosses, are of the stored value.
        held = counters.held.get(key, Fraction(0))
        before, after = before - held, after - held
        spec = counters.specs[key]
        changes.append(CounterChange(key, spec.unit, before, after, life.period_start, life.expires_at))
        for threshold in spec.thresholds:
            value = fraction(threshold.value)
            going_up = threshold.direction is ThresholdDirection.UP
            if (before < value <= after) if going_up else (before > value >= after):
                text = format(threshold.value, "f")
                crossings.append(
                    Notification(
                        NotificationKind.THRESHOLD_CROSSED,
                        f"counter {key.name!r} crossed {text} going {threshold.direction}",
                        {"counter": key.name, "value": text, "direction": threshold.direction.value},
                    )
                )
    return Outcome(tuple(charged), tuple(changes), tuple(counters.notifications + crossings))


def _apply(
    charge: Charge, plan: ChargePlan, contract_item: ContractItem, item: TypedItem, quantity: Fraction, given: Pricing
) -> ChargedItem:
    amount = rounded(price(charge.price, quantity, given), charge.rounding.decimals, charge.rounding.mode)
    for update in charge.counter_updates:
        counter = given.bound[update.counter]
        if update.add is CounterAddend.QUANTITY:
            addend = quantity / counter.spec.unit.base_factor
        elif update.add is CounterAddend.AMOUNT:
            addend = fraction(amount)
        else:
            addend = Fraction(1)
        given.counters.set(counter, given.counters.get(counter) + addend)
    return ChargedItem(
        contract_item.id,
        plan.name,
        charge.name,
        charge.account_role,
        amount,
        plan.currency,
        item.quantity,
        item.item_class.quantity_unit,
        charge.output,
    )


def _plan(catalog: Catalog, contract_item: ContractItem, at: datetime) -> ChargePlan:
    plan = catalog.charge_plan(contract_item.charge_plan, at)
    if plan is None:
        raise PrerequisiteMissingError(code=Code.CHARGE_PLAN_UNKNOWN, message="unknown plan")
    return plan


def _parent_counters(catalog: Catalog, parent: Contract | None, at: datetime) -> dict[str, tuple[CounterSpec, ChargePlan]]:
    if parent is None:
        return {}
    declared: dict[str, tuple[CounterSpec, ChargePlan]] = {}
    for contract_item in parent.items:
        plan = _plan(catalog, contract_item, at)
        for spec in plan.counters:
            if spec.scope is CounterScope.CONTRACT:
                declared.setdefault(spec.name, (spec, plan))
    return declared


def _bind(
    state: Any, contract_item: ContractItem, plan: ChargePlan, parents: dict[str, tuple[CounterSpec, ChargePlan]]
) -> dict[str, Bound]:
    contract = state.contract
    bound = {}
    for spec in plan.counters:
        if spec.scope is CounterScope.CONTRACT and spec.name in parents and state.parent is not None:
            parent_spec, parent_plan = parents[spec.name]
            key = CounterKey(state.parent.id, "", spec.name, CounterScope.CONTRACT)
            bound[spec.name] = Bound(key, parent_spec, _cycle(parent_spec, parent_plan, state.parent))
            continue
        if spec.scope is CounterScope.CONTRACT:
            key = CounterKey(contract.id, "", spec.name, CounterScope.CONTRACT)
        elif spec.scope is CounterScope.SHARED:
            key = CounterKey("", "", spec.name, CounterScope.SHARED, spec.namespace or "")
        else:
            key = CounterKey(contract.id, contract_item.id, spec.name, spec.scope)
        bound[spec.name] = Bound(key, spec, _cycle(spec, plan, contract))
    return bound


def _cycle(spec: CounterSpec, plan: ChargePlan, contract: Contract) -> Cycle | None:
    if spec.reset is not CounterReset.PER_ACTIVATION:
        return spec.cycle()
    fee = next(fee for fee in plan.fees if fee.kind is FeeKind.RECURRING)
    return fee.cycle(contract.valid_from)

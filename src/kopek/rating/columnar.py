"""Columnar rating: the prices of many items at once, as Polars expressions over columns.

The row path (:func:`kopek.rating.rate.rate_item`) prices one item from the state the
previous item left. This module prices a whole frame of items with the same rules,
for the charge plans whose pricing it can express column-wise:

- nodes ``flat``, ``connect_fee``, ``sum``, ``rate`` (without ``per_property``),
  ``switch``, ``prefix``, ``tiers`` (graduated or volume, over the quantity or a counter),
  ``allowance``, ``discount``, ``cap`` (at most its maximum per item, or over a counter
  outside ``tiers`` and schedule windows) and ``schedule`` (each item cut into parts by the
  rating core's windows, see :mod:`kopek.rating.columnar_schedules`; no counter and no
  ``no_access`` inside its windows), and ``no_access`` outside ``tiers`` and ``schedule``;
- counters of scope ``contract``, ``contract_item`` or ``shared``, without reset or reset daily,
  weekly or monthly, kept in a unit of a whole number of base units, and used by one
  charge only: consumed by one ``allowance`` (or by alike allowances in the cases of one
  ``switch`` or ``prefix``), read by ``tiers`` and moved by that charge's counter
  updates (``quantity`` or ``one``), or letting amounts through one ``cap`` (or alike caps
  of one maximum in the cases of one ``switch`` or ``prefix``), counted in the cap's
  denominator (:attr:`ColumnarPlan.scales`);
- bounds, minimums and increments that are whole base units.

Every amount is an exact fraction (an Int128 numerator over a known denominator)
until the charge's rounding turns it into a whole number of ``10^-decimals``: the
same exact arithmetic as the row path (:mod:`kopek.rating.price_tree`), so both give
the same amounts. Counters become cumulative sums per stored counter (its owner) and
reset period in the frame's order; an allowance consumes ``min(usage so far in the period, what it held)``,
a cap over a counter lets through ``max(c0, min(maximum, c0 + S))`` before an item, ``S`` the positive amounts of
the period's earlier items.

**Counters.** Each counter's owner for each item (``o:NAME``: which stored counter the
item reads and moves, the contract's own, its parent's for a linked contract, or one
shared in a namespace by several contracts), its reset period (``e:NAME``) and its value
when that period started (``c0:NAME``) are the shell's to give, from the rating core's own
period functions: the period holding the item's date, or the stored value's period when
that is later (periods never go back), and the stored value in the stored value's
period, the initial value in any other; and never a period before the one an earlier
item of the frame moved the same owner to (the contracts sharing a counter may come one
after the other, each in date order), so a period, once left, is not met again.

**Bounds.** Int128 arithmetic in Polars wraps around silently, so the integer form is
used only where it cannot overflow. Compiling a charge also bounds its numerator:
``|numerator| <= per_unit * X + constant`` for every item of a chunk whose quantities
and counter positions are at most ``X`` base units (``X`` is the largest stored
counter of the chunk plus the sum of its quantities, which no cumulative sum, tier end
or billed quantity exceeds). A ``discount`` multiplies its child's bound by the
numerator of the part it keeps (over its denominator), a ``cap`` adds its maximum to its
child's (``|min(amount, maximum)| <= |amount| + maximum``); a cap over a counter sums
its items' amounts, each cut to at most ``maximum + X``, so the sum is bounded by the
chunk's number of items. :meth:`ColumnarPlan.fits`
checks that this bound times ``10^decimals`` (the rounding's scale), and twice the denominator, stay at or below
``2^127 - 1``; the batch shell hands a chunk that does not fit to the row path before
building a column.

A frame holds the items of one chunk of a rating job, sorted in charging order, with
the columns ``row`` (an Int64 unique per item), ``contract_id``, ``item_class``, ``plan``,
``q`` (the quantity in base units, Int128), one text column ``p:NAME`` per property a
``switch`` or ``prefix`` reads, three columns per counter (``o:NAME``, its owner as an
Int64 key, ``e:NAME``, the item's reset period as an Int64 key, and ``c0:NAME``, the
counter's value when that period started in base units, Int128), ``consumption_date``
(UTC, for ``schedule`` nodes) and, for :meth:`ColumnarPlan.priced`, ``live`` (the item is
charged: neither refused nor skipped). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, TypeVar

import polars as pl

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
    DiscountNode,
    FlatNode,
    NoAccessNode,
    PrefixNode,
    PriceNode,
    RateNode,
    ScheduleNode,
    SumNode,
    SwitchNode,
    TierMode,
    TiersNode,
)
from kopek.domain.units import Dimension, Unit
from kopek.money import ExactInput, RoundingMode, exact, to_text
from kopek.rating.columnar_schedules import PARTS_MAX, ScheduleStage
from kopek.rating.schedule_windows import ScheduleWindows

INT: Final = pl.Int128
INT128_MAX: Final = 2**127 - 1
"""The largest Int128; Polars wraps around past it without a word."""
ZERO: Final = pl.lit(0, INT)


class Unsupported(Exception):
    """A plan uses what the columnar path cannot express; the row path rates it."""


def whole(value: ExactInput) -> int:
    """``value`` as an int, or :class:`Unsupported` when it has a fraction."""
    number = exact(value)
    if not isinstance(number, int):
        raise Unsupported(f"{number} is not a whole number of base units")
    return number


def fraction(value: Decimal) -> tuple[int, int]:
    """``value`` as ``(numerator, 10^k)``."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "catalog decimals are finite"
    numerator = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    return (numerator * 10**exponent, 1) if exponent >= 0 else (numerator, 10**-exponent)


def base_factor(unit: Unit) -> int:
    """How many base units make one ``unit`` (a whole number: :class:`Unsupported` otherwise)."""
    return whole(unit.base_factor)


def epoch_column(name: str) -> str:
    """The frame's column of counter ``name``'s reset period of each item (see the module's **Counters**)."""
    return f"e:{name}"


def owner_column(name: str) -> str:
    """The frame's column of counter ``name``'s owner for each item (see the module's **Counters**)."""
    return f"o:{name}"


def counter_window(name: str) -> list[str]:
    """The columns over which counter ``name`` runs: one stored counter (its owner) in one reset period."""
    return [owner_column(name), epoch_column(name)]


@dataclass(frozen=True, slots=True)
class _Amount:
    """An amount as ``numerator / denominator``; the numerator is an Int128 expression, at most
    ``per_unit * X + constant`` in magnitude for quantities and counter positions of at most ``X``."""

    numerator: pl.Expr
    denominator: int
    per_unit: int = 0
    constant: int = 0

    def plus(self, other: _Amount) -> _Amount:
        common = math.lcm(self.denominator, other.denominator)
        mine, theirs = common // self.denominator, common // other.denominator
        return _Amount(
            self.numerator * mine + other.numerator * theirs,
            common,
            self.per_unit * mine + other.per_unit * theirs,
            self.constant * mine + other.constant * theirs,
        )

    def only(self, mask: pl.Expr) -> _Amount:
        return _Amount(pl.when(mask).then(self.numerator).otherwise(ZERO), self.denominator, self.per_unit, self.constant)

    def largest(self, quantity_bound: int) -> int:
        """The largest magnitude the numerator reaches when no quantity or counter position passes ``quantity_bound``."""
        return self.per_unit * quantity_bound + self.constant


_NOTHING: Final = _Amount(ZERO, 1)


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification a node gives while it prices an item: ``allowance_exhausted`` or ``cap_reached`` of ``counter``
    (with the cap's ``maximum`` as text)."""

    kind: str
    counter: str
    maximum: str = ""


_Helper = tuple[str, pl.Expr] | ScheduleStage
"""A helper column (its name and expression), or a stage that adds its column from the whole frame (a schedule's)."""


@dataclass(slots=True)
class _Compiled:
    """What compiling one charge produced: helper columns (computed in order), the amount,
    the refusals, the counter moves, the allowances used up and the caps reached."""

    helpers: list[_Helper] = field(default_factory=list)
    refusals: list[tuple[pl.Expr, pl.Expr]] = field(default_factory=list)
    unpriced: list[pl.Expr] = field(default_factory=list)
    moves: dict[str, pl.Expr] = field(default_factory=dict)
    used_up: list[tuple[str, pl.Expr]] = field(default_factory=list)
    reached: list[tuple[str, pl.Expr]] = field(default_factory=list)
    """Per counter of a cap, the items that reach the cap (its let-through goes from below the maximum to it)."""
    notices: list[Notice] = field(default_factory=list)
    """The allowances used up and the caps reached, in the order the row path notifies them."""
    scales: dict[str, int] = field(default_factory=dict)
    """Per counter of a cap, how many of the frame's units make one base unit: the cap's denominator (a counter in
    amount lets through exact fractions of the currency)."""
    running: list[tuple[int, int, bool]] = field(default_factory=list)
    """Bounds ``(per_unit, constant, summed)`` of intermediate values; ``summed``: of a sum over the chunk's items."""
    touches: dict[str, pl.Expr] = field(default_factory=dict)
    """Per counter, the charged items whose rating reads or writes it (and so moves it to their reset period)."""

    def touch(self, name: str, where: pl.Expr) -> None:
        previous = self.touches.get(name)
        self.touches[name] = where if previous is None else previous | where


@dataclass(frozen=True, slots=True)
class _Family:
    """Price nodes of one shape (the same tree but for their constants), evaluated together.

    ``selector`` says, per item, which node of ``nodes`` prices it (an Int32 column,
    null for items none of them prices); ``None`` when the family is one node. A
    ``prefix`` of thirty zones priced alike is one family of thirty: its constants become
    columns looked up by the selector, so the work does not grow with the zones.
    """

    nodes: tuple[PriceNode, ...]
    selector: pl.Expr | None = None

    def children(self, pick: Callable[[Any], PriceNode]) -> _Family:
        return _Family(tuple(pick(node) for node in self.nodes), self.selector)


class _ChargeCompiler:
    """Compiles one charge's price tree into expressions over a frame of its items."""

    def __init__(
        self, counters: dict[str, CounterSpec], prefix: str, quantity_unit: Unit, calendars: Mapping[str, frozenset[date]]
    ) -> None:
        self._counters, self._prefix, self._quantity_unit, self._calendars = counters, prefix, quantity_unit, calendars
        self._in_windows = 0
        """How many schedule windows enclose the node being compiled: a window's part rows have no counter columns."""
        self._serial = 0
        self._choices: dict[tuple[object, ...], pl.Expr] = {}
        """The helper column of each switch's or prefix's choice (the index of its case, the default last)."""
        self._before: dict[str, str] = {}
        """The helper column of each counter's value before each item, by counter."""
        self._branches_of: dict[tuple[int, ...], list[tuple[_Family, pl.Expr]]] = {}
        self._consumed: set[str] = set()
        """The counters an allowance family consumes already: a second family would need its own running sum."""
        self._capped: set[str] = set()
        """The counters a cap family lets through already: a second family would need its own running sum."""
        self._in_tiers = 0
        """How many ``tiers`` enclose the node being compiled: the row path prices a band once per part of the usage."""
        self.static = _Compiled()
        self.dynamic = _Compiled()

    def _name(self, what: str) -> str:
        self._serial += 1
        return f"_{self._prefix}_{what}{self._serial}"

    # ---- constants of a family: literals when they agree, else columns picked by the selector ----

    def _ints(self, family: _Family, values: Sequence[int]) -> pl.Expr:
        if len(set(values)) == 1:
            return pl.lit(values[0], INT)
        assert family.selector is not None, "a family of several nodes has a selector"
        return family.selector.replace_strict(list(range(len(values))), list(values), return_dtype=INT)

    def _texts(self, family: _Family, values: Sequence[str]) -> pl.Expr:
        if len(set(values)) == 1:
            return pl.lit(values[0], pl.String)
        assert family.selector is not None, "a family of several nodes has a selector"
        return family.selector.replace_strict(list(range(len(values))), list(values), return_dtype=pl.String)

    def _fractions(self, family: _Family, values: Sequence[Decimal]) -> _Amount:
        parts = [fraction(value) for value in values]
        common = math.lcm(*(denominator for _, denominator in parts))
        numerators = [numerator * (common // denominator) for numerator, denominator in parts]
        return _Amount(self._ints(family, numerators), common, 0, max(abs(numerator) for numerator in numerators))

    # ---- refusals: which items a node refuses, from their properties only ----

    def refusals(self, family: _Family, mask: pl.Expr, *, in_tiers: bool = False) -> None:
        node = family.nodes[0]
        if isinstance(node, NoAccessNode):
            if in_tiers:
                raise Unsupported("no_access inside tiers")
            self.static.refusals.append((mask, self._texts(family, [_as(NoAccessNode, n).message for n in family.nodes])))
        elif isinstance(node, ConnectFeeNode):
            if node.then is not None:
                self.refusals(family.children(lambda n: n.then), mask, in_tiers=in_tiers)
        elif isinstance(node, SumNode):
            for index in range(len(node.parts)):
                self.refusals(family.children(_part_at(index)), mask, in_tiers=in_tiers)
        elif isinstance(node, AllowanceNode):
            if in_tiers:
                raise Unsupported("allowance inside tiers")
            self.refusals(family.children(lambda n: n.then), mask, in_tiers=in_tiers)
        elif isinstance(node, DiscountNode | CapNode):
            self.refusals(family.children(lambda n: n.price), mask, in_tiers=in_tiers)
        elif isinstance(node, TiersNode):
            for index in range(len(node.bands)):
                self.refusals(family.children(_band_at(index)), mask, in_tiers=True)
        elif isinstance(node, ScheduleNode):
            # Which window prices an item depends on its date and quantity, not only on its properties.
            if any(isinstance(inner, NoAccessNode) for inner in _nodes(node)):
                raise Unsupported("no_access inside a schedule")
            for index in range(len(_windows(node))):
                self.refusals(family.children(_window_at(index)), mask, in_tiers=in_tiers)
        elif isinstance(node, SwitchNode | PrefixNode):
            if node.default is None:
                if in_tiers:
                    raise Unsupported(f"{node.type} without a default inside tiers")
                self.static.unpriced.append(mask & self._choice(node).is_null())
            for child, branch_mask in self._branches(family):
                self.refusals(child, mask & branch_mask, in_tiers=in_tiers)
        elif not isinstance(node, FlatNode | RateNode):
            raise Unsupported(f"node {node.type}")

    def _choice(self, node: SwitchNode | PrefixNode) -> pl.Expr:
        """The index of the case or prefix that prices each item, null when none does (a helper column)."""
        keys = list(node.cases if isinstance(node, SwitchNode) else node.prefixes)
        cache_key = (node.type, node.property, *keys)
        found = self._choices.get(cache_key)
        if found is not None:
            return found
        text = pl.col(f"p:{node.property}")
        if isinstance(node, SwitchNode):
            choice = text.replace_strict(keys, list(range(len(keys))), default=None, return_dtype=pl.Int32)
        else:
            # The longest matching prefix: try the longest first.
            lengths = sorted({len(key) for key in keys}, reverse=True)
            choice = pl.coalesce(
                [
                    text.str.slice(0, length).replace_strict(
                        [key for key in keys if len(key) == length],
                        [index for index, key in enumerate(keys) if len(key) == length],
                        default=None,
                        return_dtype=pl.Int32,
                    )
                    for length in lengths
                ]
            )
        column = self._name("choice")
        self.static.helpers.append((column, choice))
        self._choices[cache_key] = pl.col(column)
        return pl.col(column)

    def _branches(self, family: _Family) -> list[tuple[_Family, pl.Expr]]:
        """The families under a family of switches or prefixes (cases and default grouped by shape), each with its mask."""
        cache_key = tuple(id(node) for node in family.nodes)
        if cache_key in self._branches_of:
            return self._branches_of[cache_key]
        node = family.nodes[0]
        assert isinstance(node, SwitchNode | PrefixNode)
        keys = list(node.cases if isinstance(node, SwitchNode) else node.prefixes)
        default_index = len(keys)
        choice = self._choice(node).fill_null(default_index)
        positions = list(range(len(keys))) + ([default_index] if node.default is not None else [])
        groups: dict[tuple[object, ...], list[int]] = {}
        for position in positions:
            groups.setdefault(_shape(_branch(node, keys, position)), []).append(position)
        branches = []
        for group in groups.values():
            inner = choice.replace_strict(group, list(range(len(group))), default=None, return_dtype=pl.Int32)
            selector = inner if family.selector is None else family.selector * len(group) + inner
            column = self._name("selector")
            self.static.helpers.append((column, selector))
            nodes = tuple(_branch(_choosing(member), keys, position) for member in family.nodes for position in group)
            branches.append((_Family(nodes, pl.col(column) if len(nodes) > 1 else None), pl.col(column).is_not_null()))
        self._branches_of[cache_key] = branches
        return branches

    # ---- amounts: what each item costs, given which items are charged ----

    def amount(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        node = family.nodes[0]
        if isinstance(node, FlatNode):
            return self._fractions(family, [_as(FlatNode, n).amount for n in family.nodes]).only(mask)
        if isinstance(node, ConnectFeeNode):
            fee = self._fractions(family, [_as(ConnectFeeNode, n).amount for n in family.nodes]).only(mask)
            return fee.plus(self.amount(family.children(lambda n: n.then), quantity, mask)) if node.then is not None else fee
        if isinstance(node, SumNode):
            total = _NOTHING
            for index in range(len(node.parts)):
                total = total.plus(self.amount(family.children(_part_at(index)), quantity, mask))
            return total
        if isinstance(node, RateNode):
            return self._rate(family, quantity).only(mask)
        if isinstance(node, TiersNode):
            self._in_tiers += 1
            try:
                return self._tiers(family, quantity, mask)
            finally:
                self._in_tiers -= 1
        if isinstance(node, AllowanceNode):
            return self._allowance(family, quantity, mask)
        if isinstance(node, DiscountNode):
            return self._discount(family, quantity, mask)
        if isinstance(node, CapNode):
            return self._cap(family, quantity, mask)
        if isinstance(node, SwitchNode | PrefixNode):
            total = _NOTHING
            for child, branch_mask in self._branches(family):
                total = total.plus(self.amount(child, quantity, mask & branch_mask))
            return total
        if isinstance(node, NoAccessNode):
            return _NOTHING  # Its items are refused, never charged.
        if isinstance(node, ScheduleNode):
            return self._schedule(family, quantity, mask)
        raise Unsupported(f"node {node.type}")

    def _rate(self, family: _Family, quantity: pl.Expr) -> _Amount:
        nodes = [_as(RateNode, n) for n in family.nodes]
        if any(node.per_property is not None for node in nodes):
            raise Unsupported("rate per property")
        minimums = [whole(node.unit.to_base(node.minimum)) for node in nodes]
        billed = pl.max_horizontal(quantity, self._ints(family, minimums)) if any(minimums) else quantity
        if nodes[0].increment is not None:
            step = self._ints(family, [whole(node.unit.to_base(node.increment or Decimal(1))) for node in nodes])
            billed = ((billed + step - 1) // step) * step
        coefficients = []
        for node in nodes:
            amount_numerator, amount_denominator = fraction(node.amount)
            per_numerator, per_denominator = fraction(node.per)
            numerator = amount_numerator * per_denominator
            denominator = amount_denominator * per_numerator * whole(node.unit.base_factor)
            common = math.gcd(numerator, denominator) or 1
            coefficients.append((numerator // common, denominator // common))
        common = math.lcm(*(denominator for _, denominator in coefficients))
        factor = self._ints(family, [numerator * (common // denominator) for numerator, denominator in coefficients])
        factors = [numerator * (common // denominator) for numerator, denominator in coefficients]
        # The billed quantity is at most the quantity plus the minimum and one increment.
        padding = max(minimums) + max(whole(node.unit.to_base(node.increment)) if node.increment is not None else 0 for node in nodes)
        largest = max(abs(value) for value in factors)
        return _Amount(billed * factor, common, largest, largest * padding)

    def _tiers(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        nodes = [_as(TiersNode, n) for n in family.nodes]
        first = nodes[0]
        per_node_bounds = []
        for node in nodes:
            unit = node.unit or (self._counters[node.counter].unit if node.counter else None) or self._quantity_unit
            if node.unit is not None or node.counter is not None:
                base_factor(unit)
            per_node_bounds.append([whole(unit.to_base(band.up_to)) if band.up_to is not None else None for band in node.bands[:-1]])
        bounds: list[pl.Expr | None] = []
        for index in range(len(first.bands) - 1):
            values = [node_bounds[index] for node_bounds in per_node_bounds]
            if any(value is None for value in values):
                raise Unsupported("a band without up_to before the last")
            bounds.append(self._ints(family, [value for value in values if value is not None]))
        bounds.append(None)
        start = ZERO
        if first.counter:
            if self._in_windows:
                raise Unsupported("tiers over a counter inside a schedule window")
            start = self._counter_before(first.counter)
            self.dynamic.touch(first.counter, mask & pl.col("live"))
        end = start + quantity
        total = _NOTHING
        bands = [family.children(_band_at(index)) for index in range(len(first.bands))]
        if first.mode is TierMode.VOLUME:
            reached = _band_index(bounds, end, inclusive=True)
            for index, band in enumerate(bands):
                total = total.plus(self.amount(band, quantity, mask & (reached == index)))
            return total
        zero_reached = _band_index(bounds, start, inclusive=False)
        lower: pl.Expr = ZERO
        for index, (band, upper) in enumerate(zip(bands, bounds, strict=True)):
            top = end if upper is None else pl.min_horizontal(end, upper)
            part = top - pl.max_horizontal(start, lower)
            used = mask & (quantity > 0) & (part > 0)
            total = total.plus(self.amount(band, pl.max_horizontal(part, ZERO), used))
            total = total.plus(self.amount(band, ZERO, mask & (quantity == 0) & (zero_reached == index)))
            lower = upper if upper is not None else lower
        return total

    def _counter_before(self, name: str) -> pl.Expr:
        """A counter read by tiers: its value before each item (the chunk's start plus the moves of earlier charged items)."""
        column = self._before.get(name)
        if column is None:
            column = self._name("before")
            move = self.dynamic.moves.get(name, ZERO)
            self.dynamic.helpers.append((column, pl.col(f"c0:{name}") + (move.cum_sum().over(counter_window(name)) - move)))
            self._before[name] = column
        return pl.col(column)

    def _allowance(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        # The nodes of one family (alike allowances in the cases of a switch or prefix) consume one counter: each item
        # reaches one of them at most, so one running sum serves them all; another family would need its own.
        node = _as(AllowanceNode, family.nodes[0])
        if self._in_windows:
            raise Unsupported("an allowance inside a schedule window")
        if node.counter in self._consumed:
            raise Unsupported(f"counter {node.counter!r} consumed by allowances of different shapes")
        self._consumed.add(node.counter)
        base_factor(self._counters[node.counter].unit)
        reach = mask & pl.col("live")
        self.dynamic.touch(node.counter, reach)
        held = pl.col(f"c0:{node.counter}")
        reaching = pl.when(reach).then(quantity).otherwise(ZERO)
        column = self._name("left")
        earlier = reaching.cum_sum().over(counter_window(node.counter)) - reaching
        self.dynamic.helpers.append((column, pl.when(held > 0).then(held - pl.min_horizontal(earlier, held)).otherwise(ZERO)))
        left = pl.col(column)
        covered_column, rest_column = self._name("covered"), self._name("rest")
        self.dynamic.helpers.append((covered_column, pl.min_horizontal(quantity, left)))
        self.dynamic.helpers.append((rest_column, quantity - pl.col(covered_column)))
        covered, rest = pl.col(covered_column), pl.col(rest_column)
        self.dynamic.moves[node.counter] = ZERO - pl.when(reach).then(covered).otherwise(ZERO)
        self.dynamic.used_up.append((node.counter, reach & (left > 0) & (covered == left)))
        self.dynamic.notices.append(Notice("allowance_exhausted", node.counter))
        child = self.amount(family.children(lambda n: n.then), rest, mask)
        return child.only(~((rest == 0) & (left > 0)))

    def _discount(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        """The child's amount times ``(100 - percent) / 100``, exactly: its numerator times the kept part's numerator
        (over the family's common denominator of kept parts), its denominator times that denominator."""
        kept = [(100 - Fraction(_as(DiscountNode, n).percent)) / 100 for n in family.nodes]
        common = math.lcm(*(part.denominator for part in kept))
        factors = [part.numerator * (common // part.denominator) for part in kept]
        child = self.amount(family.children(lambda n: n.price), quantity, mask)
        # The child's bound times the largest factor bounds the product (a factor is at most ``common``).
        largest = max(factors)
        factor = self._ints(family, factors)
        product = _Amount(child.numerator * factor, child.denominator * common, child.per_unit * largest, child.constant * largest)
        # A factor looked up by the family's selector is null for the items no node of the family prices.
        return product.only(mask)

    def _cap(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        """The least of the child's amount and the maximum, per item; in a common denominator."""
        node = _as(CapNode, family.nodes[0])
        if node.counter is not None and (self._in_windows or self._in_tiers):
            raise Unsupported("a cap with a counter inside tiers or a schedule window")
        child = self.amount(family.children(lambda n: n.price), quantity, mask)
        maximum = self._fractions(family, [_as(CapNode, n).maximum for n in family.nodes])
        common = math.lcm(child.denominator, maximum.denominator)
        mine, theirs = common // child.denominator, common // maximum.denominator
        if node.counter is not None:
            self.dynamic.running.append((child.per_unit * mine, child.constant * mine, False))
            return self._counted_cap(family, child.numerator * mine, maximum.constant * theirs, common, mask)
        least = pl.min_horizontal(child.numerator * mine, maximum.numerator * theirs)
        # |min(amount, maximum)| <= |amount| + maximum (the maximum is not negative).
        return _Amount(least, common, child.per_unit * mine, child.constant * mine + maximum.constant * theirs).only(mask)

    def _counted_cap(self, family: _Family, amount: pl.Expr, most: int, denominator: int, mask: pl.Expr) -> _Amount:
        """A cap over a counter (in amount) of what it let through, ``amount / denominator`` reaching it per item.

        The counter is kept in ``1 / denominator`` of the currency (the frame's ``c0:NAME``, see ``scales``). From
        ``c0`` at the start of a reset period, the row path's ``max(min(amount, most - let_through), 0)`` item after
        item lets through ``max(c0, min(most, c0 + S))`` before an item, ``S`` the sum of the positive amounts of the
        earlier items of the period: once at the maximum it stays there, and a counter already past it (or at it)
        never moves. Each positive amount is first cut to ``max(most - c0, 0)``, which changes no let-through (any
        amount so cut takes the counter to the maximum) and keeps the sum within ``items * (most + |c0|)``.
        """
        node = _as(CapNode, family.nodes[0])
        name = node.counter
        assert name is not None
        if name in self._capped or len({_as(CapNode, n).maximum for n in family.nodes}) != 1:
            raise Unsupported(f"counter {name!r} capped by caps of different shapes or maxima")
        if base_factor(self._counters[name].unit) != 1:
            raise Unsupported(f"counter {name!r} of a cap is not kept in amount")
        self._capped.add(name)
        self.dynamic.scales[name] = denominator
        reach = mask & pl.col("live")
        self.dynamic.touch(name, reach)
        start, maximum = pl.col(f"c0:{name}"), pl.lit(most, INT)
        room = pl.max_horizontal(maximum - start, ZERO)
        positive = pl.when(reach).then(pl.min_horizontal(pl.max_horizontal(amount, ZERO), room)).otherwise(ZERO)
        self.dynamic.running.append((1, most, True))
        earlier_column, before_column, after_column = self._name("earlier"), self._name("before"), self._name("after")
        self.dynamic.helpers.append((earlier_column, positive.cum_sum().over(counter_window(name)) - positive))
        earlier = pl.col(earlier_column)
        self.dynamic.helpers.append((before_column, pl.max_horizontal(start, pl.min_horizontal(maximum, start + earlier))))
        self.dynamic.helpers.append((after_column, pl.max_horizontal(start, pl.min_horizontal(maximum, start + earlier + positive))))
        before, after = pl.col(before_column), pl.col(after_column)
        self.dynamic.moves[name] = after - before
        self.dynamic.reached.append((name, reach & (before < maximum) & (maximum <= after)))
        self.dynamic.notices.append(Notice("cap_reached", name, to_text(node.maximum)))
        # What the cap lets through is at least 0 and at most most - c0, so at most most + |c0| <= most + X.
        return _Amount(after - before, denominator, 1, most).only(mask)

    def _schedule(self, family: _Family, quantity: pl.Expr, mask: pl.Expr) -> _Amount:
        """Each item reaching the node cut into parts by the rating core's windows (:mod:`kopek.rating.columnar_schedules`),
        each part priced by its window's node over the part rows, the parts summed back per item."""
        node = _as(ScheduleNode, family.nodes[0])
        if self._in_windows:
            raise Unsupported("a schedule inside a schedule window")
        # _shape never groups two schedules: a family of several nodes repeats one node.
        assert all(other is node for other in family.nodes), "a family repeats one schedule"
        holidays = self._calendars.get(node.calendar, frozenset()) if node.calendar is not None else frozenset()
        windows = ScheduleWindows(node, holidays)
        if node.default is None and not windows.holds_every_time():
            raise Unsupported("a schedule with times no window holds")
        window_column, seconds_column, column = self._name("window"), self._name("seconds"), self._name("schedule")
        total = _NOTHING
        self._in_windows += 1
        try:
            for index in range(len(_windows(node))):
                child = family.children(_window_at(index))
                total = total.plus(self.amount(child, pl.col(seconds_column), pl.col(window_column) == index))
        finally:
            self._in_windows -= 1
        duration = self._quantity_unit.dimension is Dimension.TIME
        self.dynamic.helpers.append(
            ScheduleStage(windows, duration, len(node.windows), quantity, mask, total.numerator, window_column, seconds_column, column)
        )
        # The parts of an item sum to what reaches the node, and there are at most PARTS_MAX of them.
        return _Amount(pl.col(column), total.denominator, total.per_unit, total.constant * PARTS_MAX)


def _windows(node: ScheduleNode) -> list[PriceNode]:
    """The nodes of a schedule's windows, in order, then its default (index ``len(node.windows)``)."""
    return [window.price for window in node.windows] + ([node.default] if node.default is not None else [])


def _window_at(index: int) -> Callable[[Any], PriceNode]:
    return lambda node: _windows(node)[index]


def _branch(node: SwitchNode | PrefixNode, keys: Sequence[str], position: int) -> PriceNode:
    """The case at ``position`` of ``keys``, or the default (position ``len(keys)``)."""
    if position == len(keys):
        assert node.default is not None
        return node.default
    return node.cases[keys[position]] if isinstance(node, SwitchNode) else node.prefixes[keys[position]]


def _shape(node: PriceNode) -> tuple[object, ...]:
    """What nodes must share to be priced as one family: the tree without its amounts, bounds and messages."""
    if isinstance(node, FlatNode):
        return ("flat",)
    if isinstance(node, ConnectFeeNode):
        return ("connect_fee", _shape(node.then) if node.then is not None else None)
    if isinstance(node, SumNode):
        return ("sum", tuple(_shape(part) for part in node.parts))
    if isinstance(node, RateNode):
        return ("rate", node.per_property, node.increment is None)
    if isinstance(node, TiersNode):
        return ("tiers", node.mode, node.counter, tuple(_shape(band.price) for band in node.bands))
    if isinstance(node, AllowanceNode):
        return ("allowance", node.counter, _shape(node.then))
    if isinstance(node, DiscountNode):
        return ("discount", _shape(node.price))
    if isinstance(node, CapNode):
        return ("cap", node.counter, _shape(node.price))
    if isinstance(node, SwitchNode | PrefixNode):
        cases = node.cases if isinstance(node, SwitchNode) else node.prefixes
        default = _shape(node.default) if node.default is not None else None
        return (node.type, node.property, tuple(cases), tuple(_shape(child) for child in cases.values()), default)
    if isinstance(node, NoAccessNode):
        return ("no_access",)
    return (node.type, id(node))  # Never grouped; compiling it raises Unsupported.


def _part_at(index: int) -> Callable[[Any], PriceNode]:
    return lambda node: node.parts[index]


def _band_at(index: int) -> Callable[[Any], PriceNode]:
    return lambda node: node.bands[index].price


_Node = TypeVar("_Node", bound=PriceNode)


def _as(kind: type[_Node], node: PriceNode) -> _Node:
    """``node`` as the kind its family shares (every node of a family has the same shape)."""
    assert isinstance(node, kind)
    return node


def _choosing(node: PriceNode) -> SwitchNode | PrefixNode:
    assert isinstance(node, SwitchNode | PrefixNode)
    return node


def _band_index(bounds: Sequence[pl.Expr | None], position: pl.Expr, *, inclusive: bool) -> pl.Expr:
    """The index of the first band whose upper bound holds ``position`` (the last band otherwise)."""
    chosen: pl.Expr = pl.lit(len(bounds) - 1, pl.Int32)
    for index in range(len(bounds) - 2, -1, -1):
        upper = bounds[index]
        assert upper is not None, "only the last band is open-ended"
        holds = (position <= upper) if inclusive else (position < upper)
        chosen = pl.when(holds).then(pl.lit(index, pl.Int32)).otherwise(chosen)
    return chosen


def rounded(amount: _Amount, decimals: int, mode: RoundingMode) -> pl.Expr:
    """``amount`` rounded to a whole number of ``10^-decimals`` with ``mode``, exactly (integer arithmetic)."""
    scaled = amount.numerator * (10**decimals)
    denominator = amount.denominator
    magnitude = scaled.abs()
    quotient = magnitude // denominator
    remainder = magnitude % denominator
    positive = scaled > 0
    if mode is RoundingMode.HALF_UP:
        up = remainder * 2 >= denominator
    elif mode is RoundingMode.HALF_EVEN:
        up = (remainder * 2 > denominator) | ((remainder * 2 == denominator) & (quotient % 2 == 1))
    elif mode is RoundingMode.UP:
        up = remainder > 0
    elif mode is RoundingMode.DOWN:
        up = pl.lit(value=False)
    elif mode is RoundingMode.CEILING:
        up = (remainder > 0) & positive
    else:
        up = (remainder > 0) & ~positive
    whole_units = quotient + pl.when(up).then(pl.lit(1, INT)).otherwise(ZERO)
    return pl.when(scaled < 0).then(ZERO - whole_units).otherwise(whole_units)


@dataclass(frozen=True, slots=True)
class ColumnarCharge:
    """One compiled charge: its static part (refusals) and its dynamic part (amount, counters)."""

    charge: Charge
    index: int
    static: _Compiled
    dynamic: _Compiled
    amount: _Amount
    """The unrounded amount."""


@dataclass(frozen=True, slots=True)
class ColumnarPlan:
    """A plan's charges for one item class, compiled; the counters they read or move."""

    plan: ChargePlan
    item_class: str
    charges: tuple[ColumnarCharge, ...]
    counters: dict[str, CounterSpec]

    def fits(self, quantity_bound: int, items: int = 1) -> bool:
        """Whether every charge's numerator, scaled by its rounding, stays within Int128 for a chunk of ``items`` items
        whose quantities and counter positions are at most ``quantity_bound`` base units (see the module's **Bounds**)."""
        if quantity_bound > INT128_MAX // 4:
            return False
        for charge in self.charges:
            scale = 10**charge.charge.rounding.decimals
            if charge.amount.largest(quantity_bound) * scale + 1 > INT128_MAX or 2 * charge.amount.denominator > INT128_MAX:
                return False
            for per_unit, constant, summed in charge.dynamic.running:
                # A running sum is added to a counter's start and to one more item's value: (items + 2) terms at most.
                if (per_unit * quantity_bound + constant) * (items + 2 if summed else 1) > INT128_MAX:
                    return False
        return True

    @property
    def scales(self) -> dict[str, int]:
        """Per counter the charges read or move, how many of the frame's units (its ``c0:NAME`` and ``m:NAME``) make one
        base unit: a cap's denominator for the counter of a cap, 1 for the others."""
        found = {name: 1 for charge in self.charges for name in charge.dynamic.touches}
        for charge in self.charges:
            found.update(charge.dynamic.scales)
        return found

    def refused(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame`` with ``refusal`` (the message of the first ``no_access`` an item reaches, or null) and
        ``unpriced`` (a switch or prefix has no price for it: the row path words that refusal)."""
        for charge in self.charges:
            frame = _with_helpers(frame, charge.static.helpers)
        refusals = [pl.when(mask).then(message) for charge in self.charges for mask, message in charge.static.refusals]
        unpriced = [mask for charge in self.charges for mask in charge.static.unpriced]
        return frame.with_columns(
            refusal=pl.coalesce(refusals) if refusals else pl.lit(None, pl.String),
            unpriced=pl.any_horizontal(unpriced) if unpriced else pl.lit(value=False),
        )

    def priced(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame`` (with ``live``) with ``a{i}`` (charge ``i``'s rounded amount), ``z{i}`` (that amount was negative
        before rounding: a zero is then ``-0``, as ``Decimal.quantize`` gives it), ``m:NAME`` (each counter's move
        in the frame's units, see :attr:`scales`), ``u:NAME`` (the allowance of counter NAME was used up by this item),
        ``r:NAME`` (the item reached the cap of counter NAME) and ``t:NAME`` (rating
        the item reads or writes counter NAME, which moves it to the item's reset period)."""
        for charge in self.charges:
            frame = _with_helpers(frame, [*charge.static.helpers, *charge.dynamic.helpers])
        frame = frame.with_columns(charge.amount.numerator.alias(f"n{charge.index}") for charge in self.charges)
        columns = [_rounded_column(charge).alias(f"a{charge.index}") for charge in self.charges]
        columns += [(pl.col(f"n{charge.index}") < 0).alias(f"z{charge.index}") for charge in self.charges]
        columns += [
            pl.when(pl.col("live")).then(move).otherwise(ZERO).alias(f"m:{name}")
            for charge in self.charges
            for name, move in charge.dynamic.moves.items()
        ]
        columns += [flag.alias(f"u:{name}") for charge in self.charges for name, flag in charge.dynamic.used_up]
        columns += [flag.alias(f"r:{name}") for charge in self.charges for name, flag in charge.dynamic.reached]
        columns += [touch.alias(f"t:{name}") for charge in self.charges for name, touch in charge.dynamic.touches.items()]
        return frame.with_columns(columns)


def _rounded_column(charge: ColumnarCharge) -> pl.Expr:
    rounding = charge.charge.rounding
    return rounded(_Amount(pl.col(f"n{charge.index}"), charge.amount.denominator), rounding.decimals, rounding.mode)


def _with_helpers(frame: pl.LazyFrame, helpers: Sequence[_Helper]) -> pl.LazyFrame:
    for helper in helpers:
        if isinstance(helper, ScheduleStage):
            frame = helper(frame)
        else:
            name, expression = helper
            frame = frame.with_columns(expression.alias(name))
    return frame


def compile_plan(catalog: Catalog, plan: ChargePlan, item_class: str) -> ColumnarPlan:
    """The columnar form of ``plan``'s charges of ``item_class``; :class:`Unsupported` when it has none."""
    if len(catalog.charge_plan_versions(plan.name)) != 1:
        raise Unsupported("plan with several versions")
    klass = catalog.item_class(item_class)
    assert klass is not None, "the caller typed the items against the catalog"
    counters = {spec.name: spec for spec in plan.counters}
    for spec in counters.values():
        if spec.scope not in (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM, CounterScope.SHARED):
            raise Unsupported(f"counter scope {spec.scope}")
        if spec.reset is CounterReset.PER_ACTIVATION:
            raise Unsupported(f"counter {spec.name!r} resets with its activation")
        base_factor(spec.unit)
    owners: dict[str, str] = {}
    for charge in plan.charges:
        for name in _counters_used(charge):
            if owners.setdefault(name, charge.name) != charge.name:
                raise Unsupported(f"counter {name!r} is used by two charges")
    compiled = []
    for index, charge in enumerate(plan.charges):
        if charge.item_class != item_class:
            continue
        compiler = _ChargeCompiler(counters, f"{index}", klass.quantity_unit or Unit.EVENTS, catalog.holiday_dates)
        for update in charge.counter_updates:
            if update.add is CounterAddend.AMOUNT:
                raise Unsupported("counter update by amount")
            if any(isinstance(node, AllowanceNode) and node.counter == update.counter for node in _nodes(charge.price)):
                raise Unsupported(f"counter {update.counter!r} is both consumed and moved")
            addend = pl.col("q") if update.add is CounterAddend.QUANTITY else pl.lit(whole(counters[update.counter].unit.base_factor), INT)
            previous = compiler.dynamic.moves.get(update.counter, ZERO)
            compiler.dynamic.moves[update.counter] = previous + pl.when(pl.col("live")).then(addend).otherwise(ZERO)
            compiler.dynamic.touch(update.counter, pl.col("live"))
        allowances = {node.counter for node in _nodes(charge.price) if isinstance(node, AllowanceNode)}
        if any(isinstance(node, TiersNode) and node.counter in allowances for node in _nodes(charge.price)):
            raise Unsupported("tiers over a counter an allowance consumes")
        capped = {node.counter for node in _nodes(charge.price) if isinstance(node, CapNode) and node.counter is not None}
        others = allowances | {update.counter for update in charge.counter_updates}
        others |= {node.counter for node in _nodes(charge.price) if isinstance(node, TiersNode) and node.counter is not None}
        if capped & others:
            raise Unsupported(f"counter {sorted(capped & others)[0]!r} is both capped and otherwise used")
        always = pl.lit(value=True)
        compiler.refusals(_Family((charge.price,)), always)
        amount = compiler.amount(_Family((charge.price,)), pl.col("q"), always)
        compiled.append(ColumnarCharge(charge, index, compiler.static, compiler.dynamic, amount))
    if not compiled:
        raise Unsupported(f"no charge for item class {item_class!r}")
    return ColumnarPlan(plan, item_class, tuple(compiled), counters)


def _nodes(node: PriceNode) -> list[PriceNode]:
    found: list[PriceNode] = [node]
    children: list[PriceNode] = []
    if isinstance(node, ConnectFeeNode) and node.then is not None:
        children = [node.then]
    elif isinstance(node, SumNode):
        children = list(node.parts)
    elif isinstance(node, AllowanceNode):
        children = [node.then]
    elif isinstance(node, DiscountNode | CapNode):
        children = [node.price]
    elif isinstance(node, TiersNode):
        children = [band.price for band in node.bands]
    elif isinstance(node, SwitchNode):
        children = [*node.cases.values(), *([node.default] if node.default else [])]
    elif isinstance(node, PrefixNode):
        children = [*node.prefixes.values(), *([node.default] if node.default else [])]
    elif isinstance(node, ScheduleNode):
        children = _windows(node)
    for child in children:
        found.extend(_nodes(child))
    return found


def _counters_used(charge: Charge) -> set[str]:
    used = {update.counter for update in charge.counter_updates}
    for node in _nodes(charge.price):
        counter = node.counter if isinstance(node, AllowanceNode | TiersNode | CapNode) else None
        if counter is not None:
            used.add(counter)
    return used


def properties_read(program: ColumnarPlan) -> set[str]:
    """The properties whose text a ``switch`` or ``prefix`` of ``program`` reads (the frame's ``p:NAME`` columns)."""
    return {
        node.property for charge in program.charges for node in _nodes(charge.charge.price) if isinstance(node, SwitchNode | PrefixNode)
    }


def used_up_counters(program: ColumnarPlan) -> list[str]:
    """The counters of ``program``'s allowances, in the order the row path notifies them used up."""
    return [name for charge in program.charges for name, _ in charge.dynamic.used_up]


def reached_counters(program: ColumnarPlan) -> list[str]:
    """The counters of ``program``'s caps with a counter (the frame's ``r:NAME`` columns)."""
    return [name for charge in program.charges for name, _ in charge.dynamic.reached]


def notices(program: ColumnarPlan) -> list[Notice]:
    """The allowances used up and caps reached ``program`` may notify, in the order the row path notifies them."""
    return [notice for charge in program.charges for notice in charge.dynamic.notices]

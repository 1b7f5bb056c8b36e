"""The pricing catalog as immutable, self-validating records.

A catalog holds chargeable item classes and charge plans. A charge plan declares
counters and charges; each charge prices one item class with a pricing tree of
declarative nodes (see ``docs/catalog.md``). Structural faults are found by
pydantic while parsing; cross-references (classes, properties, counters, units)
are checked by :mod:`kopek.domain.catalog_rules`, which collects every fault.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from kopek import limits
from kopek.domain.periods import Cycle, Period
from kopek.domain.units import Unit
from kopek.money import Exact, NotADecimalError, RoundingMode, exact_text, parse_exact, quantity_text, to_decimal, to_text


def _parse_decimal(value: object) -> Decimal:
    try:
        return to_decimal(value)
    except NotADecimalError as exc:
        raise ValueError(str(exc)) from exc


Dec = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    PlainSerializer(to_text, return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}, {"type": "integer"}]}),
]
"""An exact decimal: written as a string or an integer (never a binary float)."""


def _parse_exact_number(value: object) -> Exact:
    try:
        return parse_exact(value)
    except NotADecimalError as exc:
        raise ValueError(str(exc)) from exc


EXACT_NUMBER_PATTERN: Final = r"^-?\d+(\.\d+)?$|^-?\d+/\d+$"

ExactNumber = Annotated[
    Exact,
    PlainValidator(_parse_exact_number),
    PlainSerializer(exact_text, return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": EXACT_NUMBER_PATTERN}, {"type": "integer"}]}),
]
"""An exact number, such as a counter value: a decimal, or ``n/d`` when it has no finite decimal expansion (a third
of a minute is ``1/3``); written as a string or an integer, never a binary float. JSON carries its canonical text
(:func:`kopek.money.exact_text`)."""

Quantity = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    PlainSerializer(quantity_text, return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}, {"type": "integer"}]}),
]
"""An exact quantity: read like :data:`Dec`, written in canonical text (no trailing zeros, see :func:`kopek.money.quantity_text`)."""

NonNegativeDec = Annotated[Dec, Field(ge=0)]
PositiveDec = Annotated[Dec, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class PropertyType(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


class PropertySpec(Frozen):
    """A typed property of a chargeable item class."""

    name: Name
    type: PropertyType
    required: bool = True
    default: str | int | bool | Dec | None = None
    allowed: tuple[str, ...] | None = Field(default=None, description="Allowed values, compared as text; none means any value.")
    unit: Unit | None = Field(default=None, description="Unit of a quantity property.")


class ItemClass(Frozen):
    """A chargeable item class: the shape of one use of a service."""

    name: Name
    description: str = ""
    quantity: Name | None = Field(default=None, description="Name of the property that measures usage (reserved by sessions).")
    properties: tuple[PropertySpec, ...] = ()

    def property_spec(self, name: str) -> PropertySpec | None:
        return next((spec for spec in self.properties if spec.name == name), None)

    @property
    def quantity_unit(self) -> Unit | None:
        spec = self.property_spec(self.quantity) if self.quantity else None
        return spec.unit if spec else None


class CounterScope(StrEnum):
    """Where a counter's value lives and who shares it.

    ``contract``: one value per contract, shared by its items (a linked contract uses its
    parent's when the parent declares the counter); ``contract_item``: one per contract
    item; ``activation``: one per charge activation of the contract item, kept with the
    activation; ``shared``: one per namespace, shared by every contract whose plans
    declare it; ``transient``: lives for one rating call (or one session) only.
    """

    CONTRACT = "contract"
    CONTRACT_ITEM = "contract_item"
    ACTIVATION = "activation"
    SHARED = "shared"
    TRANSIENT = "transient"


class CounterReset(StrEnum):
    """When a counter goes back to its initial value: never, at the start of each day, week
    or month in the counter's time zone, or at the start of each period of the contract
    item's recurring fee (``per_activation``)."""

    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    PER_ACTIVATION = "per_activation"


class ThresholdDirection(StrEnum):
    UP = "up"
    DOWN = "down"


class CounterThreshold(Frozen):
    """A value of a counter worth telling: an item that moves the counter across it (from
    below to at-or-above it going ``up``, from above to at-or-below it going ``down``)
    raises a ``threshold_crossed`` notification."""

    value: Dec
    direction: ThresholdDirection = ThresholdDirection.UP


class CounterSpec(Frozen):
    """A named value kept between items, e.g. free minutes left or volume used this month."""

    name: Name
    scope: CounterScope = CounterScope.CONTRACT_ITEM
    namespace: Name | None = Field(default=None, description="The namespace of a shared counter; required with scope shared only.")
    unit: Unit
    initial: Dec = Decimal(0)
    description: str = ""
    thresholds: tuple[CounterThreshold, ...] = Field(default=(), max_length=limits.COUNTER_THRESHOLDS_MAX)
    reset: CounterReset = CounterReset.NONE
    anchor_day: int | None = Field(
        default=None, ge=1, le=31, description="Monthly reset: day of the month (default 1); weekly: ISO weekday 1-7 (default 1, Monday)."
    )
    time_zone: str = Field(
        default="UTC", min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description="IANA zone whose midnight starts a period."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_counter_time_zone(cls, value: str) -> str:
        return _known_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> CounterSpec:
        if (self.scope is CounterScope.SHARED) != (self.namespace is not None):
            raise ValueError("a namespace is required for scope shared, and allowed for it only")
        if self.anchor_day is not None and self.reset not in (CounterReset.MONTHLY, CounterReset.WEEKLY):
            raise ValueError("anchor_day applies to monthly and weekly resets only")
        if self.reset is CounterReset.WEEKLY and (self.anchor_day or 1) > 7:
            raise ValueError("the anchor day of a weekly reset is an ISO weekday, 1 (Monday) to 7 (Sunday)")
        if self.scope is CounterScope.TRANSIENT and self.reset is not CounterReset.NONE:
            raise ValueError("a transient counter lives for one rating call or session: it cannot reset")
        return self

    def cycle(self) -> Cycle | None:
        """The calendar cycle of a daily, weekly or monthly reset (none for the others)."""
        if self.reset in (CounterReset.NONE, CounterReset.PER_ACTIVATION):
            return None
        return Cycle(Period(self.reset.value), ZoneInfo(self.time_zone), self.anchor_day or 1)


class Rounding(Frozen):
    decimals: int = Field(default=2, ge=0, le=12)
    mode: RoundingMode = RoundingMode.HALF_UP


class Output(StrEnum):
    """Which item files a charge's charged item is written to."""

    BILLABLE = "billable"
    CONSUMPTION = "consumption"
    BOTH = "both"


class CounterAddend(StrEnum):
    QUANTITY = "quantity"
    AMOUNT = "amount"
    ONE = "one"


class CounterUpdate(Frozen):
    """After a charge is priced, add its quantity, amount or one to a counter."""

    counter: Name
    add: CounterAddend = CounterAddend.QUANTITY


# ---- pricing nodes -------------------------------------------------------------


class FlatNode(Frozen):
    """A fixed amount per item, whatever its quantity."""

    type: Literal["flat"] = "flat"
    amount: Dec


class ConnectFeeNode(Frozen):
    """A fixed amount once per item, plus the price of ``then`` (if any)."""

    type: Literal["connect_fee"] = "connect_fee"
    amount: Dec
    then: PriceNode | None = None


class SumNode(Frozen):
    """The sum of the prices of its parts, each seeing the whole item."""

    type: Literal["sum"] = "sum"
    parts: tuple[PriceNode, ...] = Field(min_length=1)


class RateNode(Frozen):
    """``amount`` per ``per`` ``unit`` of quantity, after the minimum and the increment.

    The billed quantity is ``max(quantity, minimum)`` rounded up to a multiple of
    ``increment``, all in ``unit``. ``per`` may instead come from an item property
    (``per_property``), e.g. a pack size carried by the item.
    """

    type: Literal["rate"] = "rate"
    amount: Dec
    unit: Unit
    per: PositiveDec = Decimal(1)
    per_property: Name | None = None
    increment: PositiveDec | None = None
    minimum: NonNegativeDec = Decimal(0)


class TierMode(StrEnum):
    GRADUATED = "graduated"
    VOLUME = "volume"


class TierBand(Frozen):
    up_to: PositiveDec | None = Field(default=None, description="Exclusive upper bound; the last band is open-ended whatever its up_to.")
    price: PriceNode


class TiersNode(Frozen):
    """Bands over the item's quantity or over a counter's value before the item.

    ``graduated``: each part of the usage is priced by the band it falls in.
    ``volume``: the whole usage is priced by the band its end reaches.
    Band bounds are in ``unit`` (default: the basis's unit).
    """

    type: Literal["tiers"] = "tiers"
    mode: TierMode = TierMode.GRADUATED
    counter: Name | None = Field(default=None, description="Basis counter; none means the item's quantity.")
    unit: Unit | None = None
    bands: tuple[TierBand, ...] = Field(min_length=1)


class SwitchNode(Frozen):
    """Chooses a price by the exact (text) value of a property."""

    type: Literal["switch"] = "switch"
    property: Name
    cases: dict[str, PriceNode] = Field(min_length=1)
    default: PriceNode | None = None


class PrefixNode(Frozen):
    """Chooses a price by the longest prefix of a string property (e.g. a number)."""

    type: Literal["prefix"] = "prefix"
    property: Name
    prefixes: dict[str, PriceNode] = Field(min_length=1)
    default: PriceNode | None = None


class RangeBand(Frozen):
    from_: Dec | None = Field(default=None, alias="from", description="Inclusive lower bound.")
    to: Dec | None = Field(default=None, description="Exclusive upper bound.")
    price: PriceNode

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RangeNode(Frozen):
    """Chooses a price by the range a numeric property falls in (``from`` <= v < ``to``)."""

    type: Literal["range"] = "range"
    property: Name
    ranges: tuple[RangeBand, ...] = Field(min_length=1)
    default: PriceNode | None = None


class AllowanceNode(Frozen):
    """Free units taken from a counter first; the rest is priced by ``then``."""

    type: Literal["allowance"] = "allowance"
    counter: Name
    then: PriceNode


class DiscountNode(Frozen):
    """``percent`` off the amount of ``price``: the subtree's amount times (100 - percent) / 100."""

    type: Literal["discount"] = "discount"
    percent: Annotated[Dec, Field(ge=0, le=100)]
    price: PriceNode


class CapNode(Frozen):
    """At most ``maximum`` for the amount of ``price``: per item, or, with ``counter`` (a counter
    in ``amount``), in total over what the counter has let through; a ``cap_reached``
    notification tells when the item reaches it."""

    type: Literal["cap"] = "cap"
    maximum: NonNegativeDec
    counter: Name | None = Field(default=None, description="Counter (unit: amount) adding up what the cap let through; none: per item.")
    price: PriceNode


class NoAccessNode(Frozen):
    """The item is refused, with a ``no_access`` notification."""

    type: Literal["no_access"] = "no_access"
    message: str = "service not accessible"


class DayKind(StrEnum):
    """A day of the week, or ``holiday``: a date of the node's calendar is a holiday instead of its weekday."""

    MONDAY = "mon"
    TUESDAY = "tue"
    WEDNESDAY = "wed"
    THURSDAY = "thu"
    FRIDAY = "fri"
    SATURDAY = "sat"
    SUNDAY = "sun"
    HOLIDAY = "holiday"


TimeOfDay = Annotated[
    str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="Local wall time HH:MM; 24:00 is the end of the day.")
]


def minutes_of_day(value: str) -> int:
    """Minutes since local midnight of an ``HH:MM`` time of day (``24:00`` is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class ScheduleWindow(Frozen):
    """Local wall times ``from`` <= t < ``to`` on some kinds of day, priced by ``price``."""

    days: tuple[DayKind, ...] = Field(
        default=tuple(DayKind), min_length=1, description="Kinds of day; default every day, holidays included."
    )
    from_: TimeOfDay = Field(default="00:00", alias="from", description="Inclusive start, local wall time.")
    to: TimeOfDay = Field(default="24:00", description="Exclusive end, local wall time.")
    price: PriceNode

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def span_minutes(self) -> int:
        return minutes_of_day(self.to) - minutes_of_day(self.from_)


class ScheduleNode(Frozen):
    """Chooses a price by the local time of the usage in ``time_zone``; a duration crossing
    a window's edge is split and each part priced by its own window."""

    type: Literal["schedule"] = "schedule"
    time_zone: str = Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description="An IANA time zone, e.g. Europe/Paris.")
    calendar: Name | None = Field(default=None, description="Name of a catalog calendar whose dates are holidays.")
    windows: tuple[ScheduleWindow, ...] = Field(min_length=1)
    default: PriceNode | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        return _known_zone(value)


PriceNode = Annotated[
    FlatNode
    | ConnectFeeNode
    | SumNode
    | RateNode
    | TiersNode
    | SwitchNode
    | PrefixNode
    | RangeNode
    | AllowanceNode
    | NoAccessNode
    | ScheduleNode
    | DiscountNode
    | CapNode,
    Field(discriminator="type"),
]

for _model in (
    ConnectFeeNode,
    SumNode,
    TierBand,
    TiersNode,
    SwitchNode,
    PrefixNode,
    RangeBand,
    RangeNode,
    AllowanceNode,
    ScheduleWindow,
    ScheduleNode,
    DiscountNode,
    CapNode,
):
    _model.model_rebuild()


class Charge(Frozen):
    """Prices one item class and says which account role pays."""

    name: Name
    item_class: Name
    account_role: Name = "prepaid"
    price: PriceNode
    rounding: Rounding = Rounding()
    output: Output = Output.BILLABLE
    counter_updates: tuple[CounterUpdate, ...] = ()


class FeeKind(StrEnum):
    """A recurring fee is charged at the start of every period; a one-off fee once, when the contract starts."""

    RECURRING = "recurring"
    ONE_OFF = "one_off"


class Proration(StrEnum):
    """How a partial first period is priced: in full (``none``) or by the days used (``daily``)."""

    NONE = "none"
    DAILY = "daily"


class InsufficientBalanceRule(StrEnum):
    """What a fee does when its payer cannot cover it: suspend the contract item's activation,
    or post it anyway, below the prepaid floor (or past the postpaid credit limit)."""

    SUSPEND = "suspend"
    BELOW_FLOOR = "below_floor"


class Fee(Frozen):
    """An amount charged for having the contract item, not for using it (see docs/catalog.md, Fees).

    ``amount`` is in the plan's currency. A recurring fee is charged in advance at the start
    of each period of its cycle; the first period starts when the contract starts.
    """

    name: Name
    kind: FeeKind = FeeKind.RECURRING
    period: Period | None = Field(default=None, description="daily, weekly or monthly; recurring fees only.")
    anchor_day: int | None = Field(
        default=None,
        ge=1,
        le=31,
        description="Monthly: day of the month; weekly: ISO weekday 1-7; default: the contract's start day in time_zone.",
    )
    time_zone: str = Field(
        default="UTC", min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description="IANA zone whose midnight starts a period."
    )
    amount: NonNegativeDec
    account_role: Name = "prepaid"
    rounding: Rounding = Rounding()
    output: Output = Output.BILLABLE
    proration: Proration = Proration.NONE
    on_insufficient_balance: InsufficientBalanceRule = InsufficientBalanceRule.SUSPEND

    @field_validator("time_zone")
    @classmethod
    def _known_fee_time_zone(cls, value: str) -> str:
        return _known_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> Fee:
        if self.kind is FeeKind.RECURRING and self.period is None:
            raise ValueError("a recurring fee needs a period: daily, weekly or monthly")
        if self.kind is FeeKind.ONE_OFF and (self.period is not None or self.anchor_day is not None):
            raise ValueError("a one-off fee has no period and no anchor_day")
        if self.kind is FeeKind.ONE_OFF and self.proration is not Proration.NONE:
            raise ValueError("a one-off fee has no period to prorate")
        if self.anchor_day is not None and self.period is Period.DAILY:
            raise ValueError("anchor_day applies to monthly and weekly fees only")
        if self.period is Period.WEEKLY and self.anchor_day is not None and self.anchor_day > 7:
            raise ValueError("the anchor day of a weekly fee is an ISO weekday, 1 (Monday) to 7 (Sunday)")
        return self

    def cycle(self, origin: datetime) -> Cycle | None:
        """The cycle of a recurring fee whose first period starts at ``origin`` (the contract's start);
        none for a one-off fee. Without ``anchor_day`` the cycle is anchored on ``origin``'s local day."""
        if self.period is None:
            return None
        zone = ZoneInfo(self.time_zone)
        local = origin.astimezone(zone)
        if self.period is Period.WEEKLY:
            anchor = self.anchor_day or local.isoweekday()
        elif self.period is Period.MONTHLY:
            anchor = self.anchor_day or local.day
        else:
            anchor = 1
        return Cycle(self.period, zone, anchor)


class ChargePlan(Frozen):
    """A version of a charge plan: several versions share a name and differ by ``effective_from``."""

    name: Name
    version: int = Field(default=1, ge=1)
    effective_from: date | None = Field(
        default=None, description="First day (UTC) on which items are priced by this version; none: since always."
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = ""
    counters: tuple[CounterSpec, ...] = ()
    charges: tuple[Charge, ...] = ()
    fees: tuple[Fee, ...] = Field(default=(), max_length=limits.PLAN_FEES_MAX)

    @model_validator(mode="after")
    def _prices_something(self) -> ChargePlan:
        if not self.charges and not self.fees:
            raise ValueError("a charge plan needs at least one charge or one fee")
        return self

    def counter(self, name: str) -> CounterSpec | None:
        return next((spec for spec in self.counters if spec.name == name), None)

    def fee(self, name: str) -> Fee | None:
        return next((record for record in self.fees if record.name == name), None)


def _effective_order(plan: ChargePlan) -> date:
    return plan.effective_from or date.min


class Calendar(Frozen):
    """A named list of dates (e.g. public holidays) that ``schedule`` nodes can refer to."""

    name: Name
    description: str = ""
    dates: tuple[date, ...] = ()


class RefillBonus(Frozen):
    """Units a refill adds to a counter of the contract, which lapse ``expires_after_days`` days later."""

    counter: Name
    units: PositiveDec = Field(description="In the counter's unit.")
    expires_after_days: int = Field(ge=1, le=limits.REFILL_BONUS_DAYS_MAX)


class RefillPlan(Frozen):
    """How a top-up credits a prepaid balance: a fixed ``amount`` or one between ``min_amount``
    and ``max_amount`` (both inclusive, each optional), and optionally bonus units in a counter."""

    name: Name
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = ""
    account_role: Name = "prepaid"
    amount: PositiveDec | None = Field(default=None, description="A fixed amount; excludes min_amount and max_amount.")
    min_amount: PositiveDec | None = None
    max_amount: PositiveDec | None = None
    bonus: RefillBonus | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RefillPlan:
        if self.amount is not None and (self.min_amount is not None or self.max_amount is not None):
            raise ValueError("a refill plan has a fixed amount or amount bounds, not both")
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            raise ValueError("min_amount is above max_amount")
        return self


class CurrencyScale(Frozen):
    """The decimal places amounts entered in a currency may have, instead of its ISO 4217 minor unit
    (an operator keeping sub-cent balances, or a currency ISO 4217 does not list); see :mod:`kopek.domain.currencies`."""

    code: str = Field(pattern=r"^[A-Z]{3}$")
    decimals: int = Field(ge=0, le=limits.CURRENCY_DECIMALS_MAX)


_Derived = TypeVar("_Derived")


class Catalog(Frozen):
    """Everything kopek needs to price: item classes, charge plans, refill plans, calendars and currency scales."""

    item_classes: tuple[ItemClass, ...] = ()
    charge_plans: tuple[ChargePlan, ...] = ()
    calendars: tuple[Calendar, ...] = ()
    refill_plans: tuple[RefillPlan, ...] = ()
    currencies: tuple[CurrencyScale, ...] = ()

    @property
    def currency_decimals(self) -> dict[str, int]:
        """The scales this catalog declares, by currency code (the others are ISO 4217's)."""
        return {scale.code: scale.decimals for scale in self.currencies}

    def refill_plan(self, name: str) -> RefillPlan | None:
        return next((record for record in self.refill_plans if record.name == name), None)

    def calendar(self, name: str) -> Calendar | None:
        return next((record for record in self.calendars if record.name == name), None)

    def item_class(self, name: str) -> ItemClass | None:
        return self._item_classes_by_name.get(name)

    def charge_plan(self, name: str, at: datetime | None = None) -> ChargePlan | None:
        """The version of plan ``name`` in effect at ``at`` (its UTC date), or the latest
        version when ``at`` is none; none when no version is in effect then."""
        versions = self._charge_plans_by_name.get(name, [])
        if at is not None:
            day = at.astimezone(UTC).date()
            versions = [plan for plan in versions if plan.effective_from is None or plan.effective_from <= day]
        return versions[-1] if versions else None

    def charge_plan_versions(self, name: str) -> tuple[ChargePlan, ...]:
        """Every version of plan ``name``, oldest first."""
        return tuple(self._charge_plans_by_name.get(name, ()))

    def model_post_init(self, context: Any, /) -> None:
        # Look-ups by name happen for every rated item; index once, the versions of a plan
        # oldest first (first record wins among duplicates, which the catalog rules refuse).
        self._item_classes_by_name = {record.name: record for record in reversed(self.item_classes)}
        self._charge_plans_by_name = {}
        listed = sorted(enumerate(self.charge_plans), key=lambda pair: (_effective_order(pair[1]), -pair[0]))
        for _, record in listed:
            self._charge_plans_by_name.setdefault(record.name, []).append(record)
        self._holiday_dates = {record.name: frozenset(record.dates) for record in reversed(self.calendars)}

    @property
    def holiday_dates(self) -> dict[str, frozenset[date]]:
        """The dates of each calendar, by calendar name, for ``schedule`` nodes."""
        return self._holiday_dates

    def derived(self, key: str, build: Callable[[Catalog], _Derived]) -> _Derived:
        """What ``build`` computes from this catalog, computed once and kept by ``key`` (rating keeps its compiled
        form here): a catalog version never changes, so neither does what is derived from it."""
        # Read through the private-attribute dictionary itself: pydantic's attribute lookup of a private
        # attribute costs more than rating a simple item.
        kept: dict[str, object] = self.__pydantic_private__["_derived"]  # type: ignore[index]
        found = kept.get(key)
        if found is None:
            found = kept[key] = build(self)
        return found  # type: ignore[return-value]

    _item_classes_by_name: dict[str, ItemClass] = PrivateAttr(default_factory=dict)
    _charge_plans_by_name: dict[str, list[ChargePlan]] = PrivateAttr(default_factory=dict)
    _holiday_dates: dict[str, frozenset[date]] = PrivateAttr(default_factory=dict)
    _derived: dict[str, object] = PrivateAttr(default_factory=dict)


def catalog_json_schema() -> dict[str, Any]:
    """The JSON Schema of a catalog file, for editors and validators."""
    schema = Catalog.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kopek catalog"
    return schema

"""Hand-written raters of the two benchmark tariffs: what ``rate_item`` is measured against.

Each prices the same typed items as kopek does, from the same tariff, the way a careful
engineer would write one tariff by hand in plain Python: the zones in dictionaries by prefix
length, the counters in a dictionary per contract, exact integer arithmetic (each charge's
amounts counted in a fixed fraction of the currency, its constants scaled once) and one
rounding per charge. The output of one item is the amount of each charge, as ``Decimal``
(``None`` for a refused item), which the benchmark checks against kopek's charged items.

:class:`BenchWorldRater` prices the tariff of :mod:`bench.world`; :class:`ExampleCatalogRater`
the two plans of ``examples/catalog.yaml`` (monthly counters in Paris included).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from bench.world import BARRED, ZONES
from kopek.domain.item import TypedItem

Amounts = tuple[Decimal, ...] | None
"""The amount of each charge of an item, or ``None``: the item is refused."""

_THOUSANDTHS: Final = 1000
_MICRO: Final = 1_000_000


def _half_up(numerator: int, scale: int) -> int:
    """``numerator / scale`` rounded half up (numerator not negative)."""
    quotient, remainder = divmod(numerator, scale)
    return quotient + (2 * remainder >= scale)


def _half_even(numerator: int, scale: int) -> int:
    quotient, remainder = divmod(numerator, scale)
    twice = 2 * remainder
    return quotient + (twice > scale or (twice == scale and quotient % 2 == 1))


def _cents(units: int) -> Decimal:
    return Decimal(units).scaleb(-2)


def _longest(table: dict[int, dict[str, object]], lengths: tuple[int, ...], number: str) -> object | None:
    for length in lengths:
        found = table[length].get(number[:length])
        if found is not None:
            return found
    return None


def _by_length(prefixes: dict[str, object]) -> tuple[dict[int, dict[str, object]], tuple[int, ...]]:
    table: dict[int, dict[str, object]] = {}
    for prefix, value in prefixes.items():
        table.setdefault(len(prefix), {})[prefix] = value
    return table, tuple(sorted(table, reverse=True))


_BARRED: Final = object()


class BenchWorldRater:
    """The ``bench_mobile`` plan of :mod:`bench.world`, one contract item per contract."""

    FREE_SECONDS: Final = 3000
    FREE_SMS: Final = 50
    DATA_BANDS_BYTES: Final = (1000 * _MICRO, 5000 * _MICRO)
    DATA_NANOS_PER_BYTE: Final = (10, 5, 2)
    """0.01, 0.005 and 0.002 per megabyte, in 10^-9 of a euro per byte."""

    def __init__(self) -> None:
        zones = {prefix: (int(Decimal(minute) * 1000), int(Decimal(second) * 1000)) for prefix, minute, second in ZONES}
        zones.update(dict.fromkeys(BARRED, _BARRED))  # type: ignore[arg-type]
        self._zones, self._zone_lengths = _by_length(zones)  # type: ignore[arg-type]
        self._default_zone = (3500, 58)
        self._roaming_zone = (1900, 32)
        self._sms, self._sms_lengths = _by_length({"33": 10, "44": 15})
        self._counters: dict[str, list[int]] = {}

    def rate(self, contract_id: str, item: TypedItem) -> Amounts:
        counters = self._counters.get(contract_id)
        if counters is None:
            counters = self._counters[contract_id] = [self.FREE_SECONDS, self.FREE_SMS, 0]
        name = item.item_class.name
        properties = item.properties
        if name == "voice_call":
            return self._voice(counters, properties)
        if name == "sms":
            return self._sms_price(counters, properties)
        return self._data(counters, properties["volume"])  # type: ignore[arg-type]

    def _voice(self, counters: list[int], properties: object) -> Amounts:
        assert isinstance(properties, dict)
        seconds = properties["duration"]
        if seconds != int(seconds):
            raise ValueError("the hand-written rater takes whole seconds")
        seconds = int(seconds)
        if properties.get("roaming"):
            return (_cents(_half_up(self._call(self._roaming_zone, seconds), 10)),)
        zone = _longest(self._zones, self._zone_lengths, properties["destination"])
        if zone is _BARRED:
            return None
        left = counters[0]
        covered = min(seconds, left) if left > 0 else 0
        rest = seconds - covered
        counters[0] = left - covered
        if rest == 0 and left > 0:
            return (_cents(0),)
        return (_cents(_half_up(self._call(zone if zone is not None else self._default_zone, rest), 10)),)  # type: ignore[arg-type]

    @staticmethod
    def _call(zone: tuple[int, int], seconds: int) -> int:
        """Thousandths of a euro: the connect fee, the first minute whole, then per second."""
        per_minute, per_second = zone
        first = per_minute if seconds > 0 else 0
        return 50 + first + max(seconds - 60, 0) * per_second

    def _sms_price(self, counters: list[int], properties: object) -> Amounts:
        assert isinstance(properties, dict)
        messages = int(properties["messages"])
        left = counters[1]
        covered = min(messages, left) if left > 0 else 0
        counters[1] = left - covered
        if messages - covered == 0 and left > 0:
            return (_cents(0),)
        price = _longest(self._sms, self._sms_lengths, properties["destination"])
        return (_cents(price if price is not None else 25),)  # type: ignore[arg-type]

    def _data(self, counters: list[int], volume: int) -> Amounts:
        start = counters[2]
        end = start + volume
        counters[2] = end
        lower, nanos = 0, 0
        for upper, rate in zip((*self.DATA_BANDS_BYTES, None), self.DATA_NANOS_PER_BYTE, strict=True):
            top = end if upper is None or upper > end else upper
            part = top - max(start, lower)
            if part > 0:
                nanos += part * rate
            if upper is None or upper >= end:
                break
            lower = upper
        return (Decimal(_half_even(nanos, 100_000)).scaleb(-4),)


PARIS: Final = ZoneInfo("Europe/Paris")


class _ExamplePlan:
    """One plan of ``examples/catalog.yaml``: prices in 10^-4 of a euro."""

    def __init__(
        self,
        free_minutes: int,
        national: tuple[int, int],
        mobile: tuple[int, int],
        eu: tuple[int, int],
        world: tuple[int, int, int],
        sms: dict[str, int],
        data: tuple[int, int, int],
        data_bands_mb: tuple[int, int],
    ) -> None:
        self.free_seconds = free_minutes * 60
        zones: dict[str, object] = {"33": (national, True), "336": (mobile, True), "337": (mobile, True), "3389": _BARRED}
        for prefix in ("30", "31", "32", "34", "351", "352", "353", "39", "40", "43", "45", "46", "48", "49"):
            zones[prefix] = (eu, False)
        self.zones, self.zone_lengths = _by_length(zones)
        self.world = world
        self.sms = sms
        self.data_per_block = data
        """Per block of 100 kB, in 10^-4 of a euro."""
        self.data_bands_bytes = tuple(megabytes * _MICRO for megabytes in data_bands_mb)


class ExampleCatalogRater:
    """``prepaid_classic`` and ``postpaid_smart`` of ``examples/catalog.yaml``; each contract has one of them."""

    BLOCK_BYTES: Final = 100_000

    def __init__(self, plans_of_contracts: dict[str, str]) -> None:
        plans = {
            "prepaid_classic": _ExamplePlan(30, (1200, 20), (1800, 30), (3000, 50), (5000, 12000, 200),
                                            {"national": 10, "eu": 15, "international": 30}, (20, 10, 5), (500, 2000)),
            "postpaid_smart": _ExamplePlan(300, (600, 10), (900, 15), (2400, 40), (3500, 9000, 150),
                                           {"national": 5, "eu": 10, "international": 25}, (0, 10, 5), (2000, 10000)),
        }  # fmt: skip
        self._plan_of = {contract_id: plans[name] for contract_id, name in plans_of_contracts.items()}
        self._counters: dict[str, list[object]] = {}
        """Per contract: free seconds left, data bytes used, and the start of the month they belong to."""

    def rate(self, contract_id: str, item: TypedItem) -> Amounts:
        plan = self._plan_of[contract_id]
        name = item.item_class.name
        if name == "sms":
            return (Decimal(plan.sms[item.properties["zone"]]).scaleb(-2),)  # type: ignore[index]
        counters = self._current(contract_id, plan, item.consumption_date)
        if name == "voice_call":
            return self._voice(plan, counters, item.properties)
        return self._data(plan, counters, item.properties["volume"])  # type: ignore[arg-type]

    def _current(self, contract_id: str, plan: _ExamplePlan, at: datetime) -> list[object]:
        """The contract's counters in the month of ``at`` in Paris: back at their initial values in a later month."""
        local = at.astimezone(PARIS)
        month = datetime(local.year, local.month, 1, tzinfo=PARIS).astimezone(UTC)
        counters = self._counters.get(contract_id)
        if counters is None or month > counters[2]:  # type: ignore[operator]
            counters = self._counters[contract_id] = [plan.free_seconds, 0, month]
        return counters

    def _voice(self, plan: _ExamplePlan, counters: list[object], properties: object) -> Amounts:
        assert isinstance(properties, dict)
        seconds = properties["duration"]
        if seconds != int(seconds):
            raise ValueError("the hand-written rater takes whole seconds")
        seconds = int(seconds)
        zone = _longest(plan.zones, plan.zone_lengths, properties["destination"])
        if zone is _BARRED:
            return None
        if zone is None:
            per_minute, per_second, connect = plan.world[1], plan.world[2], plan.world[0]
            return (_cents(_half_up(connect + self._tiers(per_minute, per_second, seconds), 100)),)
        (per_minute, per_second), with_allowance = zone  # type: ignore[misc]
        rest = seconds
        if with_allowance:
            left = counters[0]
            assert isinstance(left, int)
            covered = min(seconds, left) if left > 0 else 0
            rest = seconds - covered
            counters[0] = left - covered
            if rest == 0 and left > 0:
                return (_cents(0),)
        return (_cents(_half_up(self._tiers(per_minute, per_second, rest), 100)),)

    @staticmethod
    def _tiers(per_minute: int, per_second: int, seconds: int) -> int:
        return (per_minute if seconds > 0 else 0) + max(seconds - 60, 0) * per_second

    def _data(self, plan: _ExamplePlan, counters: list[object], volume: int) -> Amounts:
        start = counters[1]
        assert isinstance(start, int)
        end = start + volume
        counters[1] = end
        lower, units = 0, 0
        block = self.BLOCK_BYTES
        for upper, rate in zip((*plan.data_bands_bytes, None), plan.data_per_block, strict=True):
            top = end if upper is None or upper > end else upper
            part = top - max(start, lower)
            if part > 0:
                units += -(-part // block) * rate
            if upper is None or upper >= end:
                break
            lower = upper
        return (_cents(_half_up(units, 100)),)

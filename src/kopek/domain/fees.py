"""Recurring and one-off fees: which periods are due, what each costs, and the activation's status.

Pure: given a contract, a contract item's plan and what its activation already
charged, say which fee periods are due up to a date and at what amount. The shell
(:mod:`kopek.charging.fees`) posts them.

The rules (docs/catalog.md, Fees):

- A recurring fee's first period starts when the contract starts (``valid_from``);
  each later period starts at a start of the fee's cycle. A fee is charged in
  advance, at the start of its period, in full (there is no refund when the
  contract ends inside a period).
- A one-off fee is charged once, when the contract starts.
- Periods starting at or after the contract's end (``valid_to``) are not due.
- With ``proration: daily``, a first period shorter than a whole period of the cycle
  (the contract started after the cycle's anchor) costs
  ``amount × days used / days in the period``, rounded by the fee's rounding. Days
  are local calendar days in the fee's time zone; the contract's start day counts
  as used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from kopek.domain.activations import ActivationStatus
from kopek.domain.catalog import Fee, FeeKind, Proration
from kopek.domain.master import Contract
from kopek.domain.periods import Cycle
from kopek.money import quantize, round_exact

FEE_ITEM_CLASS = "fee"
"""The item class written on the charged items of fees (never a catalog class name: fees price no usage)."""


@dataclass(frozen=True, slots=True)
class DuePeriod:
    """One period of one fee that is due: charged once, at ``start``."""

    fee: Fee
    start: datetime
    amount: Decimal
    days_used: int | None = None
    days_in_period: int | None = None

    @property
    def prorated(self) -> bool:
        return self.days_used is not None


def first_period_days(cycle: Cycle, origin: datetime) -> tuple[int, int]:
    """``(days used, days in the period)`` of the period of ``cycle`` that contains ``origin``,
    counted in local calendar days from ``origin``'s day to the next period start."""
    period_start = cycle.start_of(origin)
    following = cycle.next_start(period_start)
    start_day = period_start.astimezone(cycle.zone).date()
    origin_day = origin.astimezone(cycle.zone).date()
    end_day = following.astimezone(cycle.zone).date()
    return (end_day - origin_day).days, (end_day - start_day).days


def prorated_amount(amount: Decimal, days_used: int, days_in_period: int, fee: Fee) -> Decimal:
    """``amount × days_used / days_in_period``, exactly, rounded once by the fee's rounding."""
    assert 0 < days_used <= days_in_period, "a partial period uses at least one of its days"
    share = Fraction(amount) * days_used / days_in_period
    return round_exact(share.numerator, share.denominator, decimals=fee.rounding.decimals, mode=fee.rounding.mode)


def period_amount(fee: Fee, start: datetime, origin: datetime) -> DuePeriod:
    """The fee's period starting at ``start``, priced: in full, or prorated when it is a partial first period."""
    full = quantize(fee.amount, decimals=fee.rounding.decimals, mode=fee.rounding.mode)
    cycle = fee.cycle(origin)
    if cycle is None or fee.proration is Proration.NONE or start != origin:
        return DuePeriod(fee, start, full)
    days_used, days_in_period = first_period_days(cycle, origin)
    if days_used == days_in_period:
        return DuePeriod(fee, start, full)
    return DuePeriod(fee, start, prorated_amount(fee.amount, days_used, days_in_period, fee), days_used, days_in_period)


def due_starts(fee: Fee, contract: Contract, last_applied: datetime | None, until: datetime) -> list[datetime]:
    """The starts of the fee's periods not yet charged (after ``last_applied``) up to ``until`` inclusive,
    oldest first, within the contract's validity."""
    origin = contract.valid_from
    if origin > until:
        return []
    cycle = fee.cycle(origin)
    if cycle is None:
        starts = [origin] if last_applied is None else []
    else:
        starts = ([origin] if last_applied is None else []) + cycle.starts_between(last_applied or origin, until)
    return [start for start in starts if contract.valid_to is None or start < contract.valid_to]


def due_periods(fee: Fee, contract: Contract, last_applied: datetime | None, until: datetime) -> list[DuePeriod]:
    """Every due period of ``fee`` up to ``until``, priced."""
    return [period_amount(fee, start, contract.valid_from) for start in due_starts(fee, contract, last_applied, until)]


def settled_status(fees: tuple[Fee, ...], contract: Contract, last_applied: Mapping[str, datetime], until: datetime) -> ActivationStatus:
    """The status of an activation whose due periods up to ``until`` are all charged: ``expired`` when
    nothing can be due any more (the contract has ended by ``until``, or every fee is one-off and
    charged), else ``active``."""
    ended = contract.valid_to is not None and contract.valid_to <= until
    one_offs_done = all(fee.kind is FeeKind.ONE_OFF and fee.name in last_applied for fee in fees)
    return ActivationStatus.EXPIRED if ended or one_offs_done else ActivationStatus.ACTIVE

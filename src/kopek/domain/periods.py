"""Calendar periods: where a day, a week or a month starts in a time zone.

Counter resets and recurring fees both cut time into periods. A period starts at
local midnight in its time zone; a weekly period on its anchor weekday; a monthly
period on its anchor day of the month, moved to the month's last day when the
month is shorter (an anchor day of 31 starts February's period on the 28th or 29th).
All instants going in and out are timezone-aware; the results are in UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Cycle:
    """A repeating period in a time zone.

    ``anchor_day`` is the ISO weekday (1 = Monday .. 7 = Sunday) of a weekly cycle and
    the day of the month (1..31) of a monthly cycle; a daily cycle ignores it.
    """

    period: Period
    zone: ZoneInfo
    anchor_day: int = 1

    def __post_init__(self) -> None:
        top = 7 if self.period is Period.WEEKLY else 31
        assert 1 <= self.anchor_day <= top, f"anchor day {self.anchor_day} out of range for a {self.period} cycle"

    def start_of(self, at: datetime) -> datetime:
        """The start (UTC) of the period that contains ``at``."""
        day = at.astimezone(self.zone).date()
        if self.period is Period.DAILY:
            start_day = day
        elif self.period is Period.WEEKLY:
            start_day = day - timedelta(days=(day.isoweekday() - self.anchor_day) % 7)
        else:
            start_day = _monthly_start_day(day, self.anchor_day)
        start = self._midnight(start_day)
        # A local midnight that a DST change skips maps to the next valid instant, which can
        # land after ``at`` only in the skipped hour itself; the period then started the day before.
        return start if start <= at else self._midnight(self._previous_start_day(start_day))

    def next_start(self, start: datetime) -> datetime:
        """The start (UTC) of the period after the one that starts at ``start``."""
        day = start.astimezone(self.zone).date()
        if self.period is Period.DAILY:
            following = day + timedelta(days=1)
        elif self.period is Period.WEEKLY:
            following = day + timedelta(days=7)
        else:
            year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
            following = _anchored(year, month, self.anchor_day)
        return self._midnight(following)

    def starts_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Every period start ``s`` with ``after < s <= until``, oldest first."""
        starts = []
        start = self.next_start(self.start_of(after))
        while start <= until:
            starts.append(start)
            start = self.next_start(start)
        return starts

    def _previous_start_day(self, day: date) -> date:
        if self.period is Period.DAILY:
            return day - timedelta(days=1)
        if self.period is Period.WEEKLY:
            return day - timedelta(days=7)
        year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
        return _anchored(year, month, self.anchor_day)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)


def _anchored(year: int, month: int, anchor_day: int) -> date:
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def _monthly_start_day(day: date, anchor_day: int) -> date:
    this_month = _anchored(day.year, day.month, anchor_day)
    if this_month <= day:
        return this_month
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return _anchored(year, month, anchor_day)

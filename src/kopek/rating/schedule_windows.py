"""The windows of a ``schedule`` node, worked out once: which window holds each local minute of each kind of
day, and how a duration is cut where the window holding it may change.

For each kind of day (``mon`` … ``sun``, ``holiday``) the local day is cut at every window's ``from`` and
``to``; each segment knows its winning window (fewest kinds of day, then the shortest span, then the
first listed), so finding the window of an instant is a bisection, not a scan of the windows.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Final
from zoneinfo import ZoneInfo

from kopek import limits
from kopek.domain.catalog import DayKind, ScheduleNode, minutes_of_day
from kopek.errors import Code, InvalidError
from kopek.money import Exact

MINUTES_PER_DAY: Final = 1440
_DAY_KINDS: Final = tuple(DayKind)
_WEEKDAYS: Final = _DAY_KINDS[:7]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)


class ScheduleWindows:
    """The windows of one ``schedule`` node, by kind of day, with the edges where they start and end."""

    __slots__ = ("_edges", "_holidays", "_winners", "zone")

    def __init__(self, node: ScheduleNode, holidays: frozenset[date]) -> None:
        self.zone = ZoneInfo(node.time_zone)
        self._holidays = holidays
        edges = {0} | {minutes_of_day(window.from_) for window in node.windows} | {minutes_of_day(window.to) for window in node.windows}
        self._edges = tuple(sorted(edge for edge in edges if edge < MINUTES_PER_DAY))
        """Local minutes where some window starts or ends (a day's midnight included), in order: each starts a
        segment of the day that one window holds (or none)."""
        self._winners = {kind: tuple(_winner(node, kind, minute) for minute in self._edges) for kind in _DAY_KINDS}
        """By kind of day, the window holding each segment."""

    def holds_every_time(self) -> bool:
        """Whether some window holds every local minute of every kind of day (so no usage is left without a window)."""
        return all(winner is not None for winners in self._winners.values() for winner in winners)

    def window_at(self, moment: datetime) -> int | None:
        """The index of the most specific window holding ``moment``; ``None`` when none holds it."""
        local = moment.astimezone(self.zone)
        day = local.date()
        kind = DayKind.HOLIDAY if day in self._holidays else _WEEKDAYS[local.weekday()]
        minute = local.hour * 60 + local.minute
        return self._winners[kind][bisect_right(self._edges, minute) - 1]

    def parts(self, start: datetime, seconds: Exact) -> list[tuple[int | None, Exact]]:
        """The duration ``seconds`` from ``start`` cut where the window holding it may change, as (window index,
        seconds); adjacent parts under the same window are one part, so a cut where nothing changes does not
        make a child's increment or minimum apply twice."""
        parts: list[tuple[int | None, Exact]] = []
        position = start.astimezone(UTC)
        left = seconds
        for _ in range(limits.SCHEDULE_EDGES_MAX + 1):
            if left <= 0:
                return parts
            index = self.window_at(position)
            edge = self._next_edge(position)
            span = edge - position
            whole = span.days * 86_400 + span.seconds
            span_seconds: Exact = whole if not span.microseconds else Fraction(whole * 1_000_000 + span.microseconds, 1_000_000)
            part = left if left < span_seconds else span_seconds
            if parts and parts[-1][0] == index:
                parts[-1] = (index, parts[-1][1] + part)
            else:
                parts.append((index, part))
            left -= part
            position = edge
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"a usage crosses more than {limits.SCHEDULE_EDGES_MAX} schedule edges")

    def _next_edge(self, position: datetime) -> datetime:
        """The first instant after ``position`` (UTC) at which the window holding the usage may change: a window's
        edge, a local midnight, or a change of the zone's UTC offset (summer time)."""
        zone = self.zone
        today = position.astimezone(zone).date()
        # Both folds: a wall time repeated when clocks go back is an edge twice. Both days: when clocks go back
        # across midnight, tomorrow's first midnight comes before today's last wall times. Instants are compared
        # in UTC, because aware datetimes sharing one tzinfo compare by wall time.
        candidates = (
            datetime.combine(day, time(minutes // 60, minutes % 60, fold=fold), tzinfo=zone).astimezone(UTC)
            for day in (today, today + timedelta(days=1))
            for minutes in self._edges
            for fold in (0, 1)
        )
        edge = min(candidate for candidate in candidates if candidate > position)
        if position.astimezone(zone).utcoffset() != edge.astimezone(zone).utcoffset():
            return _offset_change(position, edge, zone)
        return edge


def _winner(node: ScheduleNode, kind: DayKind, minute: int) -> int | None:
    """The most specific window holding local ``minute`` on a day of ``kind``: fewest kinds of day, then the
    shortest span, then the first listed; ``None`` when none holds it."""
    holding = [
        (len(window.days), window.span_minutes, index)
        for index, window in enumerate(node.windows)
        if kind in window.days and minutes_of_day(window.from_) <= minute < minutes_of_day(window.to)
    ]
    return min(holding)[2] if holding else None


def _offset_change(position: datetime, edge: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second after ``position`` where ``zone``'s UTC offset differs from its offset at
    ``position``, found by bisection (offset changes happen on whole seconds)."""
    before = position.astimezone(zone).utcoffset()
    low = (position - _EPOCH) // _SECOND
    high = -((_EPOCH - edge) // _SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * _SECOND).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return _EPOCH + high * _SECOND

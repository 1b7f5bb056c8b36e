"""Timing and reporting: one row per benchmark, printed as a table with ratios."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass
class Row:
    """One benchmark's figures; ``note`` explains a skipped or unusual row."""

    name: str
    database: str = "-"
    threads: int = 1
    items: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    refused: int = 0
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.items / self.seconds if self.items and self.seconds > 0 else None

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def skipped(name: str, database: str, note: str, threads: int = 1) -> Row:
    return Row(name, database, threads, note=f"skipped: {note}")


@dataclass
class Timings:
    """What a run of calls measured: wall time, each call's latency, refusals and the first one's text."""

    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    first_refusal: str = ""


def timed_loop(calls: Sequence[Callable[[], object]]) -> Timings:
    """Run ``calls`` one after another, timing each; a call that raises counts as refused."""
    timings = Timings()
    started = time.perf_counter()
    for call in calls:
        began = time.perf_counter()
        try:
            call()
        except Exception as error:
            timings.refused += 1
            timings.first_refusal = timings.first_refusal or f"{type(error).__name__}: {error}"[:120]
        timings.latencies.append(time.perf_counter() - began)
    timings.wall = time.perf_counter() - started
    return timings


def run_threads(per_thread: Sequence[Sequence[Callable[[], object]]], *, timeout_seconds: float = 1800) -> Timings:
    """Run each list of calls in its own thread, all started together; latencies of every call, wall time of all."""
    barrier = threading.Barrier(len(per_thread) + 1)
    results = [Timings() for _ in per_thread]
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = timed_loop(per_thread[index])
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(len(per_thread))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=timeout_seconds)
    wall = time.perf_counter() - started
    if failures:
        raise failures[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"benchmark threads still running after {timeout_seconds} s")
    return Timings(
        wall,
        [latency for result in results for latency in result.latencies],
        sum(result.refused for result in results),
        next((result.first_refusal for result in results if result.first_refusal), ""),
    )


def measured(name: str, database: str, threads: int, timings: Timings, note: str) -> Row:
    if timings.first_refusal:
        note = f"{note}; first refusal: {timings.first_refusal}"
    return Row(name, database, threads, len(timings.latencies), timings.wall, timings.latencies, timings.refused, note)


def _number(value: float | None, pattern: str) -> str:
    return format(value, pattern) if value is not None else "-"


def _milliseconds(seconds: float | None) -> str:
    return _number(seconds * 1000 if seconds is not None else None, ".3f")


def table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "database", "threads", "items", "items/s", "p50 ms", "p99 ms", "refused", "note")
    lines = [
        (
            row.name,
            row.database,
            str(row.threads),
            str(row.items) if row.items else "-",
            _number(row.rate, ",.0f"),
            _milliseconds(row.percentile(0.50)),
            _milliseconds(row.percentile(0.99)),
            str(row.refused) if row.items else "-",
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(cells[column]) for cells in [header, *lines]) for column in range(len(header))]
    right = {2, 3, 4, 5, 6, 7}

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join(line.rstrip() for line in [render(header), rule, *(render(cells) for cells in lines)])


def ratios(rows: Sequence[Row]) -> list[str]:
    """Throughput ratios between measured rows: what durability, threads and HTTP cost."""
    rate = {(row.name.split(":")[0], row.database, row.threads): row.rate for row in rows if row.rate}
    threads = max((row.threads for row in rows), default=1)
    wanted = [
        ("in-process durable charge / pure core, sqlite", ("engine", "sqlite", 1), ("core", "none", 1)),
        ("in-process durable charge / pure core, postgresql", ("engine", "postgresql", 1), ("core", "none", 1)),
        ("postgresql / sqlite, in-process, 1 thread", ("engine", "postgresql", 1), ("engine", "sqlite", 1)),
        (f"sqlite {threads} threads / 1 thread, in-process", ("engine", "sqlite", threads), ("engine", "sqlite", 1)),
        (f"postgresql {threads} threads / 1 thread, in-process", ("engine", "postgresql", threads), ("engine", "postgresql", 1)),
        ("http / in-process, sqlite, 1 thread", ("http", "sqlite", 1), ("engine", "sqlite", 1)),
        ("http / in-process, postgresql, 1 thread", ("http", "postgresql", 1), ("engine", "postgresql", 1)),
        (f"http / in-process, postgresql, {threads} threads", ("http", "postgresql", threads), ("engine", "postgresql", threads)),
        ("recharge / charging the same items once, sqlite", ("recharge", "sqlite", 1), ("recharge baseline", "sqlite", 1)),
        ("recharge / charging the same items once, postgresql", ("recharge", "postgresql", 1), ("recharge baseline", "postgresql", 1)),
    ]
    lines = []
    for label, top, bottom in wanted:
        numerator, denominator = rate.get(top), rate.get(bottom)
        if numerator and denominator:
            lines.append(f"{label}: {numerator / denominator:.3g}x")
    return lines


class Goal(StrEnum):
    """What a measure's target bounds: its ratio to the baseline from below, or kopek's own figure from below or above."""

    RATIO_AT_LEAST = "ratio_at_least"
    KOPEK_AT_LEAST = "kopek_at_least"
    KOPEK_AT_MOST = "kopek_at_most"


@dataclass(frozen=True, slots=True)
class Measure:
    """One target of ``python -m bench``: kopek's figure against a baseline measured in the same run.

    ``kopek`` and ``baseline`` are in ``unit``; ``baseline`` is None for a measure without one (its
    ratio is None too). ``goal`` says what ``target`` bounds: by default the ratio ``kopek / baseline``
    from below (a throughput at least ``target`` times the baseline's).
    """

    name: str
    unit: str
    kopek: float
    baseline: float | None
    target: float
    goal: Goal = Goal.RATIO_AT_LEAST

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.kopek / self.baseline if self.baseline > 0 else 0.0

    @property
    def ok(self) -> bool:
        if self.goal is Goal.KOPEK_AT_LEAST:
            return self.kopek >= self.target
        if self.goal is Goal.KOPEK_AT_MOST:
            return self.kopek <= self.target
        return self.ratio is not None and self.ratio >= self.target

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "kopek": round(self.kopek, 3),
            "baseline": round(self.baseline, 3) if self.baseline is not None else None,
            "ratio": round(self.ratio, 4) if self.ratio is not None else None,
            "target": self.target,
            "ok": self.ok,
        }


def _figure(value: float | None) -> str:
    return _number(value, ",.0f" if value is None or value >= 100 else ",.2f")


def _target(measure: Measure) -> str:
    bound = {Goal.RATIO_AT_LEAST: "ratio >= ", Goal.KOPEK_AT_LEAST: ">= ", Goal.KOPEK_AT_MOST: "<= "}[measure.goal]
    return f"{bound}{measure.target:g}"


def measures_table(measures: Sequence[Measure]) -> str:
    """The measures as a table: kopek, baseline, ratio and target of each."""
    header = ("measure", "unit", "kopek", "baseline", "ratio", "target", "ok")
    lines = [
        (m.name, m.unit, _figure(m.kopek), _figure(m.baseline), _number(m.ratio, ".3f"), _target(m), "yes" if m.ok else "NO")
        for m in measures
    ]
    widths = [max(len(cells[column]) for cells in [header, *lines]) for column in range(len(header))]
    right = {2, 3, 4, 5}

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([render(header), "  ".join("-" * width for width in widths), *(render(cells) for cells in lines)])

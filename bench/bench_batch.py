"""Batch rating end to end: pending CDRs in the database -> a rating job -> charged, counters, balances -> item files.

Untimed set-up, in this process: the catalog and ``subscribers`` prepaid subscribers,
then ``cdrs`` pending CDRs (the usage mix of :mod:`bench.world`) written straight into
the ``cdrs`` table by :mod:`bench.cdr_loader` (the rows ``kopek cdrs import`` would
store, much faster).

Timed, each in a child process from its start to its exit (interpreter start-up and
opening the database included): ``kopek rate`` (one ``DAY_MOST``
job with one worker; ``--path`` only when ``--rating-path`` is given), then ``kopek
items export`` into a temporary folder. The row's items/s is CDRs per second of the
job; the note adds the export's files, rows and rows/s and the end-to-end CDRs/s
(CDRs over job plus export seconds). Peak RSS is each child's own (``os.wait4``), so
neither the loader nor this process counts in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import batch_baseline
from bench.bench_engine import prepared_engine
from bench.cdr_loader import load_pending_cdrs
from bench.measure import Measure, Row
from bench.server_process import libpq_url
from kopek import Engine
from kopek.batch.rating_jobs import RatingMode

JOB_MODE = RatingMode.DAY_MOST
"""Every CDR is tried, so the rate is that of charging, not of skipping a contract's CDRs after its first refusal."""
RATE_EXIT_CODES = (0, 1)
"""``kopek rate`` exits 1 when any CDR failed or was skipped, as some of the usage mix do (barred numbers)."""
MEASURE_WORKERS = {"postgresql": os.cpu_count() or 1, "sqlite": 1}
"""The workers of a measured job, as an operator would run it on this machine: on PostgreSQL one per core (a worker
prices its chunk while another's writes run in the database); SQLite has one writer, and a second worker adds nothing."""
_BOX_DRAWING = str.maketrans("", "", "╭╮╰╯│─")


@dataclass(frozen=True, slots=True)
class ChildRun:
    """A finished child process: its exit code, wall seconds from start to exit, its own peak RSS, its output."""

    exit_code: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def json_result(self, command: str, *, exit_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
        """The ``--json`` result the command printed; raises with its stderr when it failed."""
        if self.exit_code not in exit_codes or not self.stdout.strip():
            said = " ".join(self.stderr.translate(_BOX_DRAWING).split())
            raise RuntimeError(f"{command} exited {self.exit_code}: {said[-100:]}")
        result = json.loads(self.stdout)
        assert isinstance(result, dict)
        return result


def run(
    database: str,
    open_database: Callable[[], AbstractContextManager[str]],
    *,
    cdrs: int,
    subscribers: int,
    rating_path: str | None = None,
    workers: int = 1,
) -> Row:
    """Set up (untimed), then time ``kopek rate`` and ``kopek items export`` in child processes; one row."""
    with open_database() as url:
        with prepared_engine(url, subscribers):
            pass
        began = time.perf_counter()
        loaded = load_pending_cdrs(url, cdrs, subscribers)
        seconds = time.perf_counter() - began
        print(f"  {database}: {loaded} pending CDRs loaded in {seconds:.1f} s (untimed set-up)", file=sys.stderr, flush=True)
        job = rate_in_child(url, rating_path) if workers == 1 else rate_in_workers(url, rating_path, workers)
        with tempfile.TemporaryDirectory(prefix="kopek-bench-items-") as folder:
            export = export_in_child(url, Path(folder))
    status = job.json_result("kopek rate", exit_codes=RATE_EXIT_CODES)
    report = export.json_result("kopek items export")
    return _row(database, subscribers, rating_path=rating_path, workers=workers, job=job, status=status, export=export, report=report)


def rate_in_child(url: str, rating_path: str | None) -> ChildRun:
    """``kopek rate`` over every pending CDR, timed from the child's start to its exit."""
    arguments = ["rate", "--mode", JOB_MODE.value, "--json", "--database-url", url]
    if rating_path is not None:
        arguments += ["--path", rating_path]
    return run_kopek(arguments)


def rate_in_workers(url: str, rating_path: str | None, workers: int) -> ChildRun:
    """A job started here (untimed), then ``workers`` ``kopek rate --worker JOB`` processes at once, timed from the
    first start to the last exit; the peak RSS is the largest child's, the output the last to finish."""
    with Engine(url) as engine:
        job_id = engine.start_rating_job(JOB_MODE)
    arguments = ["rate", "--worker", job_id, "--json", "--database-url", url]
    if rating_path is not None:
        arguments += ["--path", rating_path]
    with contextlib.ExitStack() as files:
        began = time.perf_counter()
        started = []
        for _ in range(workers):
            out, err = files.enter_context(tempfile.TemporaryFile()), files.enter_context(tempfile.TemporaryFile())
            started.append((subprocess.Popen([sys.executable, "-m", "kopek.cli", *arguments], stdout=out, stderr=err), out, err))
        finished = []
        for process, out, err in started:
            _, wait_status, usage = os.wait4(process.pid, 0)
            out.seek(0)
            err.seek(0)
            code = os.waitstatus_to_exitcode(wait_status)
            finished.append(
                ChildRun(code, time.perf_counter() - began, _megabytes(usage.ru_maxrss), out.read().decode(), err.read().decode())
            )
    last = max(finished, key=lambda run: run.seconds)
    return ChildRun(last.exit_code, last.seconds, max(run.peak_rss_mb for run in finished), last.stdout, last.stderr)


def export_in_child(url: str, directory: Path) -> ChildRun:
    """``kopek items export`` of every kind into ``directory`` (Parquet), timed from the child's start to its exit."""
    return run_kopek(["items", "export", "--dir", str(directory), "--json", "--database-url", url])


def run_kopek(arguments: list[str]) -> ChildRun:
    """Run ``python -m kopek.cli ARGUMENTS`` and wait for it with ``os.wait4``, which gives this child's own peak RSS.

    (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the largest of every child waited for so far,
    so a child smaller than an earlier one would not show in it.)
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "kopek.cli", *arguments], stdout=out, stderr=err)
        _, wait_status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        return ChildRun(process.returncode, seconds, _megabytes(usage.ru_maxrss), out.read().decode(), err.read().decode())


def _megabytes(max_rss: int) -> float:
    """``ru_maxrss`` in MB: kilobytes on Linux, bytes on macOS."""
    return max_rss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _row(
    database: str,
    subscribers: int,
    *,
    rating_path: str | None,
    workers: int,
    job: ChildRun,
    status: dict[str, Any],
    export: ChildRun,
    report: dict[str, Any],
) -> Row:
    """The job's CDRs/s as the row's rate; the counts, the export and the end-to-end rate in its note."""
    total, rows = int(status["total"]), int(report["rows_written"])
    end_to_end = total / (job.seconds + export.seconds) if job.seconds + export.seconds > 0 else 0.0
    note = (
        f"{subscribers} subscribers, path {rating_path or 'default'}: {status['charged']} charged, {status['failed']} failed, "
        f"{status['skipped']} skipped ({_paths(status)}); job {job.seconds:.1f} s, peak RSS {job.peak_rss_mb:.0f} MB per worker; "
        f"items export {report['files_written']} files, {rows} rows in {export.seconds:.1f} s ({rows / export.seconds:,.0f} rows/s), "
        f"peak RSS {export.peak_rss_mb:.0f} MB; end to end {end_to_end:,.0f} CDRs/s"
    )
    return Row("batch: rating job", database, workers, total, job.seconds, [], int(status["failed"]) + int(status["skipped"]), note)


TARGET_RATIO = 0.5
"""A rating job should rate at least half as many CDRs per second as the Polars baseline."""


def measure(
    database: str, open_database: Callable[[], AbstractContextManager[str]], *, cdrs: int, subscribers: int, rounds: int
) -> Measure:
    """``batch_pg`` / ``batch_sqlite``: CDRs/s of one rating job in this process (:data:`MEASURE_WORKERS` workers),
    from its start to its end (every CDR charged, committed), against the median of ``rounds`` runs of the Polars
    baseline over the same stored CDRs (:mod:`bench.batch_baseline`), run first. An untimed check compares the two
    totals and refusals."""
    with open_database() as url:
        with prepared_engine(url, subscribers):
            pass
        load_pending_cdrs(url, cdrs, subscribers)
        target = libpq_url(url) if database == "postgresql" else url.removeprefix("sqlite:///")
        prepare, run_baseline = (
            (batch_baseline.prepare_postgres, batch_baseline.run_postgres)
            if database == "postgresql"
            else (batch_baseline.prepare_sqlite, batch_baseline.run_sqlite)
        )
        prepare(target)
        seconds: list[float] = []
        for _ in range(rounds):
            began = time.perf_counter()
            priced = run_baseline(target)
            seconds.append(time.perf_counter() - began)
        with Engine(url) as engine:
            began = time.perf_counter()
            status = engine.run_rating_job(engine.start_rating_job(JOB_MODE), workers=MEASURE_WORKERS[database])
            job_seconds = time.perf_counter() - began
            with engine.database.connect() as connection:
                charged = [Decimal(str(amount)) for (amount,) in connection.exec_driver_sql("SELECT amount FROM charged_items")]
    _check(database, priced, sum(charged, Decimal(0)), status.failed)
    name = "batch_pg" if database == "postgresql" else "batch_sqlite"
    return Measure(name, "CDRs/s", status.total / job_seconds, cdrs / statistics.median(seconds), TARGET_RATIO)


def _check(database: str, priced: Any, kopek_total: Decimal, kopek_failed: int) -> None:
    """Say on stderr when the baseline's prices disagree with kopek's (a benchmark reports; it does not stop)."""
    total = Decimal(int(priced["amount"].sum())).scaleb(-4)
    refused = int(priced["amount"].null_count())
    if total != kopek_total or refused != kopek_failed:
        print(
            f"  {database}: the Polars baseline disagrees with kopek: total {total} vs {kopek_total}, refused {refused} vs {kopek_failed}",
            file=sys.stderr,
            flush=True,
        )


def _paths(status: dict[str, Any]) -> str:
    """The job's CDRs by path, and on the row path by reason: ``vectorized 9,990, row 10 (cdr_invalid)``."""
    found = status.get("paths") or []
    return ", ".join(f"{each['path']} {each['count']:,}" + (f" ({each['reason']})" if each["reason"] else "") for each in found)

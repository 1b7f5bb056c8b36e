"""``kopek rate`` (start or join a rating job, with a progress bar), ``kopek jobs status`` and ``kopek jobs cancel``."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kopek.batch.partition_rating import CDRS_PER_CHUNK
from kopek.batch.rating_jobs import PARTITION_LEASE_SECONDS, JobFilters, JobState, JobStatus, RatingJobSummary, RatingMode, RatingPath
from kopek.cli.options import AfterKey, DatabaseUrl, Json, PageSize, actor, open_engine
from kopek.cli.output import Output, cell, emit_page, reporting, table
from kopek.paging import page
from kopek.store.database import DATABASE_URL_VARIABLE

jobs_app = typer.Typer(rich_markup_mode=None, help="Rating jobs: list them, follow one, cancel one.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The rating job's id.", show_default=False)]


def rate(
    mode: Annotated[RatingMode, typer.Option("--mode", help="How CDRs are grouped and what a failure stops (docs/batch.md).")] = (
        RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL
    ),
    date_from: Annotated[
        datetime | None, typer.Option("--from", help="Only CDRs consumed at or after this date (ISO 8601).", show_default=False)
    ] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", help="Only CDRs consumed before this date.", show_default=False)] = None,
    item_class: Annotated[str | None, typer.Option("--item-class", help="Only CDRs of this item class.", show_default=False)] = None,
    contract: Annotated[
        list[str] | None,
        typer.Option("--contract", help="Only CDRs of this contract (repeat for several).", metavar="ID", show_default=False),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Also take the CDRs that failed for good or were skipped in ended jobs (after a fix). "
            "Without it, CDRs that failed for a temporary reason are taken again anyway.",
        ),
    ] = False,
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker", help="Work on (or resume) this existing job beside any other workers instead of starting one.", metavar="JOB"
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Workers in this process, each charging its own chunks: on PostgreSQL two use two cores; on SQLite, "
            "which has one writer, they take turns.",
        ),
    ] = 1,
    chunk_cdrs: Annotated[int, typer.Option("--chunk-cdrs", min=1, help="CDRs charged and committed together.")] = CDRS_PER_CHUNK,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", min=0.1, help="How long a partition of a silent worker waits before another takes it over.")
    ] = PARTITION_LEASE_SECONDS,
    path: Annotated[
        RatingPath, typer.Option("--path", help="auto: the vectorized path where it applies, else the row path; row: the row path only.")
    ] = RatingPath.AUTO,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Rate and charge the pending CDRs in the foreground; exits 1 when any CDR failed or was skipped.

    Without ``--worker``, starts a job and works on it as its first worker (``--workers N``: as N
    workers); more workers (other processes, other machines on one PostgreSQL) may join it with
    ``--worker JOB``.
    Ctrl-C stops the worker after the chunk in flight commits, gives its partitions back,
    prints how to resume and exits 130; a second Ctrl-C stops at once.
    """
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine, _stop_on_interrupt() as stop:
        filters = JobFilters(
            date_from=_utc(date_from), date_to=_utc(date_to), item_class=item_class, contract_id=contract or None, retry_failed=retry_failed
        )
        job_id = worker or engine.start_rating_job(mode, filters, actor=actor())
        progress = Progress(
            TextColumn(f"Rating {job_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Output.console(stderr=True),
            transient=True,
        )
        with progress:
            task = progress.add_task("rating", total=engine.rating_job(job_id).pending)
            status = engine.run_rating_job(
                job_id,
                progress=lambda count: progress.advance(task, count),
                chunk_cdrs=chunk_cdrs,
                lease_seconds=lease_seconds,
                path=path,
                stop=stop.is_set,
                workers=workers,
            )
    if stop.is_set() and status.state not in STOPPED_FOR_GOOD:
        _tell_interrupted(status, database_url)
        raise typer.Exit(EXIT_INTERRUPTED)
    output.emit(status, lambda console: _render(console, status))
    if status.failed or status.skipped:
        raise typer.Exit(1)


EXIT_INTERRUPTED = 128 + signal.SIGINT
"""The exit status of a worker stopped by Ctrl-C, as a shell gives a process that SIGINT ended."""
STOPPED_FOR_GOOD = frozenset({JobState.SUCCEEDED, JobState.COMPLETED_WITH_ERRORS, JobState.CANCELLED, JobState.FAILED})
"""The states in which a job is not waiting for a resume of this worker."""


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """While inside, the first SIGINT (Ctrl-C) or SIGTERM only asks the worker to stop between chunks (the event is
    set); a second one raises ``KeyboardInterrupt`` at once."""
    requested = threading.Event()

    def ask(signum: int, frame: FrameType | None) -> None:
        if requested.is_set():
            signal.default_int_handler(signum, frame)
        requested.set()
        Output.console(stderr=True).print("Stopping after the chunk in flight commits (Ctrl-C again to stop at once)...", markup=False)

    previous = {number: signal.signal(number, ask) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _tell_interrupted(status: JobStatus, database_url: str | None) -> None:
    """Say on stderr where the stopped job stands and the command that resumes it."""
    command = f"kopek rate --worker {status.id}"
    if database_url is not None and os.environ.get(DATABASE_URL_VARIABLE) != database_url:
        command += f" --database-url {shlex.quote(sa.make_url(database_url).render_as_string(hide_password=True))}"
    sys.stderr.write(
        f"Interrupted: rating job {status.id} is {status.state.value}, {status.pending} of its {status.total} CDR(s) pending; "
        f"every committed chunk stays charged.\nResume it with: {command}\n"
    )
    sys.stderr.flush()


def _utc(moment: datetime | None) -> datetime | None:
    """A date given without a time zone is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@jobs_app.command("list")
def list_jobs(
    state: Annotated[JobState | None, typer.Option("--state", help="Only jobs in this state.", show_default=False)] = None,
    after_id: AfterKey = "",
    limit: PageSize = 100,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """List rating jobs in the order they were started: mode, state, CDRs taken, who started them and when."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.rating_jobs(state=state, after_id=cursor, limit=size), after_id, limit, lambda job: job.id
        )
    emit_page(output, "rating_jobs", found, after, lambda console: _render_jobs(console, found))


def _render_jobs(console: Console, found: list[RatingJobSummary]) -> None:
    shown = table("Rating jobs", "id", "mode", "state", ">CDRs", "started by", "created", "finished")
    for job in found:
        shown.add_row(
            cell(job.id),
            cell(job.mode.value),
            cell(job.state.value),
            cell(job.total),
            cell(job.actor),
            cell(job.created_at),
            cell(job.finished_at),
        )
    console.print(shown)


@jobs_app.command("status")
def status(job_id: JobId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """A job's state, counts, progress and errors by category and code."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found = engine.rating_job(job_id)
    output.emit(found, lambda console: _render(console, found))


@jobs_app.command("cancel")
def cancel(job_id: JobId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Cancel a job that has not finished: what was charged stays charged, its pending CDRs go back to the store."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        cancelled = engine.cancel_rating_job(job_id, actor=actor())
    output.emit(cancelled, lambda console: _render(console, cancelled))


ENDED = frozenset({JobState.SUCCEEDED, JobState.COMPLETED_WITH_ERRORS, JobState.CANCELLED})
"""The states in which a later job takes the job's temporarily failed CDRs."""


def _render(console: Console, status: JobStatus) -> None:
    temporarily = f" ({status.temporarily_failed} temporarily)" if status.temporarily_failed else ""
    console.print(
        f"{status.id} ({status.mode.value}): {status.state.value}; {status.total} CDR(s): {status.charged} charged, "
        f"{status.failed} failed{temporarily}, {status.skipped} skipped, {status.pending} pending ({status.progress:.0%})"
        + (f"; {status.released} released" if status.released else ""),
        style="green" if status.state.value == "succeeded" else "yellow",
        markup=False,
    )
    if status.errors:
        shown = table("Errors", "category", "reason", "code", ">count")
        for error in status.errors:
            shown.add_row(cell(error.category), cell(error.reason), cell(error.code), cell(error.count))
        console.print(shown)
    if status.paths:
        shown = table("Paths", "path", "reason", ">CDRs", "example")
        for counted in status.paths:
            shown.add_row(cell(counted.path), cell(counted.reason), cell(counted.count), cell(counted.detail))
        console.print(shown)
    if status.temporarily_failed and status.state in ENDED:
        console.print(
            f"{status.temporarily_failed} CDR(s) failed for a temporary reason: a later 'kopek rate' rates them again "
            "(with the CDRs their failure skipped); 'kopek rate --retry-failed' also takes those that failed for good.",
            style="dim",
            markup=False,
        )

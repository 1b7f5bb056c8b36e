"""``kopek recharge`` (one contract), ``kopek recharge-jobs`` (many, with a progress bar), ``kopek restoration-point`` and
``kopek counter-journal prune``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kopek.batch.rating_jobs import PARTITION_LEASE_SECONDS, RatingPath
from kopek.cli.options import DatabaseUrl, Json, actor, open_engine
from kopek.cli.output import Output, cell, reporting, table
from kopek.engine import Engine
from kopek.recharging.jobs import RechargeJobFilters, RechargeJobStatus
from kopek.recharging.views import JournalPruning, RechargeResult, RestorationPointView

jobs_app = typer.Typer(rich_markup_mode=None, help="Mass recharging jobs: start one, resume one, read its status.", no_args_is_help=True)
journal_app = typer.Typer(
    rich_markup_mode=None, help="The counter journal restoration points are rebuilt from: prune it.", no_args_is_help=True
)

ContractId = Annotated[str, typer.Argument(help="The contract.", show_default=False)]
JobId = Annotated[str, typer.Argument(help="The recharging job's id.", show_default=False)]
Path = Annotated[
    RatingPath,
    typer.Option(
        "--path", help="row: each contract's items priced one at a time (the faster); auto: column-wise where its plans allow it."
    ),
]
FromDate = Annotated[datetime, typer.Option("--from", help="The restoration point (ISO 8601; without an offset: UTC).", show_default=False)]
CatalogVersion = Annotated[
    int | None,
    typer.Option("--catalog-version", min=1, help="The catalog version to charge with; default: the newest.", show_default=False),
]


def recharge(
    contract_id: ContractId,
    from_date: FromDate,
    catalog_version: CatalogVersion = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Charge the contract's usage since --from again, writing the differences as corrections and compensating account
    operations; all or nothing. A refusal changes nothing and exits 1 with the error on stderr."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        result = engine.recharge(contract_id, _utc(from_date), catalog_version=catalog_version, actor=actor())
    output.emit(result, lambda console: _render(console, result))


def _render(console: Console, result: RechargeResult) -> None:
    console.print(
        f"Recharged {result.contract_id} from {result.from_date.isoformat()} with catalog version {result.catalog_version}: "
        f"{result.items_recharged} items, {result.items_changed} changed, {result.items_refused} refused "
        f"(recharge {result.recharge_id}, priced {'column-wise' if result.pricing_path.value == 'columnar' else 'on the row path'})",
        markup=False,
    )
    if not result.compensations:
        console.print("No account operation: the charges are the same.", markup=False)
    for compensation in result.compensations:
        console.print(
            f"{compensation.account_id}: {compensation.amount} {compensation.currency}, balance {compensation.balance_after}",
            markup=False,
        )


def restoration_point(
    contract_id: ContractId,
    at: Annotated[datetime, typer.Option("--at", help="The date (ISO 8601; without an offset: UTC).", show_default=False)],
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Print the contract's state as of --at (one line of a contract states file) and what the items since did to its
    accounts; changes nothing."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        point = engine.restoration_point(contract_id, _utc(at))
    output.emit(point, lambda console: _render_point(console, point))


def _render_point(console: Console, point: RestorationPointView) -> None:
    console.print(f"{point.contract_id} as of {point.at.isoformat()}: {point.items_since} items since", markup=False)
    for effect in point.account_effects:
        console.print(f"{effect.account_id}: {effect.amount} from those items", markup=False)
    console.print_json(data=point.state)


@jobs_app.command("start")
def start(
    from_date: FromDate,
    catalog_version: CatalogVersion = None,
    plan: Annotated[
        list[str] | None,
        typer.Option("--plan", help="Only contracts with an item of this charge plan (repeat for several).", show_default=False),
    ] = None,
    contract: Annotated[
        list[str] | None, typer.Option("--contract", help="Only this contract (repeat for several).", metavar="ID", show_default=False)
    ] = None,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", min=0.1, help="How long a contract of a silent worker waits before another takes it.")
    ] = PARTITION_LEASE_SECONDS,
    path: Path = RatingPath.ROW,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Start a job over the contracts with items consumed since --from and work on it; exits 1 when a contract was refused."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        filters = RechargeJobFilters(from_date=_utc(from_date), catalog_version=catalog_version, plans=plan or None, contract_ids=contract)
        job_id = engine.start_recharge_job(filters, actor=actor())
        status = _run(engine, job_id, lease_seconds, path)
    _emit(output, status)


@jobs_app.command("run")
def run(
    job_id: JobId,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", min=0.1, help="How long a contract of a silent worker waits before another takes it.")
    ] = PARTITION_LEASE_SECONDS,
    path: Path = RatingPath.ROW,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Work on (or resume) an existing job beside any other workers; exits 1 when a contract was refused."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        status = _run(engine, job_id, lease_seconds, path)
    _emit(output, status)


@jobs_app.command("status")
def status(job_id: JobId, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """A job's state, its contracts recharged, refused and pending, and its compensations by currency."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found = engine.recharge_job(job_id)
    output.emit(found, lambda console: _render_job(console, found))


def _run(engine: Engine, job_id: str, lease_seconds: float, path: RatingPath) -> RechargeJobStatus:
    progress = Progress(
        TextColumn(f"Recharging {job_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Output.console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("recharging", total=engine.recharge_job(job_id).pending)
        return engine.run_recharge_job(
            job_id, progress=lambda count: progress.advance(task, count), lease_seconds=lease_seconds, path=path, actor=actor()
        )


def _emit(output: Output, found: RechargeJobStatus) -> None:
    output.emit(found, lambda console: _render_job(console, found))
    if found.refused:
        raise typer.Exit(1)


def _render_job(console: Console, found: RechargeJobStatus) -> None:
    console.print(
        f"Job {found.id}: {found.state.value}; {found.recharged} recharged ({found.recharged_columnar} column-wise, "
        f"{found.recharged_row} on the row path), {found.refused} refused, {found.pending} pending "
        f"of {found.total} ({found.progress:.0%}), catalog version {found.catalog_version}",
        markup=False,
    )
    for currency, total in sorted(found.compensations.items()):
        console.print(f"Compensations: {total} {currency}", markup=False)
    if found.errors:
        shown = table("Refused contracts", "contract", "code", "message")
        for error in found.errors:
            shown.add_row(cell(error.contract_id), cell(error.code), cell(error.message))
        console.print(shown)


def _utc(moment: datetime) -> datetime:
    """A date given without a time zone is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@journal_app.command("prune")
def prune(database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Delete the journal entries older than the retention window of restoration points (KOPEK_RECHARGE_RETENTION_DAYS),
    in bounded passes of one commit each, until none is left."""
    output = Output(json_output)
    deleted = 0
    with reporting(output), open_engine(database_url) as engine:
        while True:
            pruned = engine.prune_counter_journal()
            deleted += pruned.deleted
            if not pruned.more:
                break
    total = pruned.model_copy(update={"deleted": deleted})
    output.emit(total, lambda console: _render_pruning(console, total))


def _render_pruning(console: Console, pruned: JournalPruning) -> None:
    console.print(f"Pruned {pruned.deleted} counter journal entries recorded before {pruned.horizon.isoformat()}", markup=False)

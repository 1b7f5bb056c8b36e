"""``kopek demo``: a fresh database, the example catalog, a synthetic month of usage, a summary.

The demo charges every item one by one through :meth:`kopek.Engine.charge`, the
same path as ``kopek charge`` and the HTTP API, then checks that the balances
agree with the charged amounts to the last cent.
"""

from __future__ import annotations

import importlib.resources
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from kopek.cli.demo_world import CURRENCY, DemoWorld, build_world
from kopek.cli.options import Json
from kopek.cli.output import Output, cell, reporting, table
from kopek.domain.item import ChargeableItem
from kopek.engine import Engine
from kopek.errors import AlreadyExistsError, Code, IllegalSystemStateError, KopekError
from kopek.money import to_text
from kopek.store.database import create_database_engine, shown_url
from kopek.store.schema import metadata

DEMO_DATABASE_URL: Final = "sqlite:///kopek-demo.db"
ALEMBIC_VERSION_TABLE: Final = "alembic_version"
SUBSCRIBERS_MAX: Final = 100_000
ITEMS_MAX: Final = 1_000_000


def examples_folder() -> Path:
    """The example catalog and master data: packaged in the wheel, else in the source tree."""
    packaged = importlib.resources.files("kopek") / "examples"
    if isinstance(packaged, Path) and (packaged / "catalog.yaml").is_file():
        return packaged
    source_tree = Path(__file__).resolve().parents[3] / "examples"
    if (source_tree / "catalog.yaml").is_file():
        return source_tree
    raise IllegalSystemStateError(
        code=Code.UNEXPECTED_FAULT, message="the examples folder (examples/catalog.yaml) is missing from this installation"
    )


def demo(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help=f"Where to build the demo. Default: {DEMO_DATABASE_URL} in the working folder. The database must be empty "
            "unless --reset is given. KOPEK_DATABASE_URL is not read, so the demo never touches your database.",
            show_default=False,
        ),
    ] = None,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Delete what kopek holds in the database first (a previous demo's data); nothing else."),
    ] = False,
    subscribers: Annotated[int, typer.Option("--subscribers", help="How many subscribers to create.", min=1, max=SUBSCRIBERS_MAX)] = 1000,
    items: Annotated[int, typer.Option("--items", help="How many chargeable items to charge.", min=0, max=ITEMS_MAX)] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic world; the same seed gives the same world.")] = 7,
    json_output: Json = False,
) -> None:
    """Build a demo database, charge a synthetic month of usage one item at a time, print a summary.

    Loads examples/catalog.yaml, creates the subscribers (about 70% prepaid, 30%
    postpaid, a few blocked, closed or with an ended contract) and charges the
    items (calls by zone, SMS, data sessions, a few from unknown numbers). A database
    that holds data is refused unless --reset is given.
    """
    output = Output(json_output)
    url = database_url or DEMO_DATABASE_URL
    with reporting(output):
        started = time.perf_counter()
        _empty_or_reset(url, reset=reset)
        world = build_world(subscribers=subscribers, items=items, seed=seed)
        with Engine(url) as engine:
            engine.load_catalog(examples_folder() / "catalog.yaml", actor="demo")
            engine.load_master_data(world.master_data, actor="demo")
            tally = charge_all(engine, world.items, console=Output.console(stderr=True))
            summary = _summarize(engine, world, tally, url=url, seed=seed)
        summary.wall_seconds = time.perf_counter() - started
    output.emit(summary.data(), lambda console: render_summary(console, summary))


def _empty_or_reset(url: str, *, reset: bool) -> None:
    """Make sure the demo starts on an empty database, deleting nothing unless ``reset`` asks for it.

    A database holding kopek's data is refused, or with ``reset`` emptied in place (kopek's tables
    dropped, so a server using the same SQLite file sees the new demo, not a deleted copy). Tables
    that are not kopek's are never touched: such a database is refused either way.
    """
    database = create_database_engine(url)
    try:
        tables = set(sa.inspect(database).get_table_names())
        owned = {table.name for table in metadata.sorted_tables} | {ALEMBIC_VERSION_TABLE}
        foreign = sorted(tables - owned)
        # The schema's revision is bookkeeping, not data: a migrated, empty database is empty.
        holding = sorted(table for table in tables & owned - {ALEMBIC_VERSION_TABLE} if _holds_rows(database, table))
        if foreign or (holding and not reset):
            raise AlreadyExistsError(code=Code.ALREADY_EXISTS, message=_not_empty(url, foreign, holding))
        if reset and tables & owned:
            metadata.drop_all(database)
            with database.begin() as connection:
                connection.execute(sa.text(f"DROP TABLE IF EXISTS {ALEMBIC_VERSION_TABLE}"))
    finally:
        database.dispose()


def _holds_rows(database: sa.Engine, table: str) -> bool:
    with database.connect() as connection:
        return connection.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first() is not None


def _not_empty(url: str, foreign: list[str], holding: list[str]) -> str:
    if foreign:
        return f"the demo needs an empty database, and {shown_url(url)} holds tables that are not kopek's ({', '.join(foreign[:5])})"
    return (
        f"the demo needs an empty database, and {shown_url(url)} holds kopek data ({', '.join(holding[:5])}); "
        "pass --reset to delete it, or name another database with --database-url"
    )


@dataclass(slots=True)
class Revenue:
    """The charged items of one charge: how many, and their amounts added up exactly."""

    items: int = 0
    amount: Decimal = Decimal(0)


@dataclass(slots=True)
class Tally:
    """What charging the items gave: counts, revenue by (charge plan, charge, currency), amounts by payer, refusals."""

    charged: int = 0
    refused: int = 0
    seconds: float = 0.0
    revenue: dict[tuple[str, str, str], Revenue] = field(default_factory=lambda: defaultdict(Revenue))
    paid_by_account: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    refusals: Counter[tuple[str, str, str]] = field(default_factory=Counter)


class _ChargesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} charges/s" if speed else "", style="cyan")


def charge_all(engine: Engine, items: Sequence[ChargeableItem], *, console: Console) -> Tally:
    """Charge ``items`` in order, one unit of work each, with a progress bar on ``console``."""
    tally = Tally()
    progress = Progress(
        TextColumn("Charging"),
        BarColumn(),
        MofNCompleteColumn(),
        _ChargesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    started = time.perf_counter()
    with progress:
        task = progress.add_task("charging", total=len(items))
        for index, item in enumerate(items):
            try:
                result = engine.charge(item, idempotency_key=f"demo-{index}")
            except KopekError as error:
                tally.refused += 1
                tally.refusals[(error.category.value, error.reason.value if error.reason else "", error.code.value)] += 1
            else:
                tally.charged += 1
                for line in result.charged_items or []:
                    revenue = tally.revenue[(line.charge_plan, line.charge, line.currency)]
                    revenue.items += 1
                    revenue.amount += line.amount
                    tally.paid_by_account[line.account_id] += line.amount
            progress.advance(task)
    tally.seconds = time.perf_counter() - started
    return tally


@dataclass(slots=True)
class Summary:
    database_url: str
    seed: int
    subscribers: int
    items: int
    tally: Tally
    prepaid_total: Decimal
    prepaid_accounts: int
    opening_prepaid_total: Decimal
    postpaid_total: Decimal
    postpaid_accounts: int
    reconciled: bool
    wall_seconds: float = 0.0

    @property
    def charges_per_second(self) -> float:
        return self.items / self.tally.seconds if self.tally.seconds > 0 else 0.0

    def revenue_total(self) -> Decimal:
        return sum((revenue.amount for revenue in self.tally.revenue.values()), Decimal(0))

    def data(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "seed": self.seed,
            "subscribers": self.subscribers,
            "items": self.items,
            "charged": self.tally.charged,
            "refused": self.tally.refused,
            "currency": CURRENCY,
            "revenue_by_charge": [
                {"charge_plan": plan, "charge": charge, "currency": currency, "items": revenue.items, "amount": to_text(revenue.amount)}
                for (plan, charge, currency), revenue in sorted(self.tally.revenue.items())
            ],
            "revenue_total": to_text(self.revenue_total()),
            "prepaid": {
                "accounts": self.prepaid_accounts,
                "opening_total": to_text(self.opening_prepaid_total),
                "balance_total": to_text(self.prepaid_total),
            },
            "postpaid": {"accounts": self.postpaid_accounts, "accumulated_total": to_text(self.postpaid_total)},
            "balances_reconciled": self.reconciled,
            "refusals": [
                {"category": category, "reason": reason or None, "code": code, "count": count}
                for (category, reason, code), count in sorted(self.tally.refusals.items(), key=lambda entry: (-entry[1], entry[0]))
            ],
            "charging_seconds": round(self.tally.seconds, 3),
            "charges_per_second": round(self.charges_per_second, 1),
            "wall_seconds": round(self.wall_seconds, 3),
        }


def _summarize(engine: Engine, world: DemoWorld, tally: Tally, *, url: str, seed: int) -> Summary:
    prepaid_total = sum((engine.account(account_id).balance for account_id in world.prepaid_account_ids), Decimal(0))
    postpaid_total = sum((engine.account(account_id).balance for account_id in world.postpaid_account_ids), Decimal(0))
    # Exactness check: every cent charged left a prepaid balance or landed on a postpaid one.
    prepaid_paid = sum((tally.paid_by_account[account_id] for account_id in world.prepaid_account_ids), Decimal(0))
    postpaid_paid = sum((tally.paid_by_account[account_id] for account_id in world.postpaid_account_ids), Decimal(0))
    reconciled = world.opening_prepaid_total - prepaid_paid == prepaid_total and postpaid_paid == postpaid_total
    return Summary(
        database_url=shown_url(url),
        seed=seed,
        subscribers=len(world.master_data.subscriber_accounts),
        items=len(world.items),
        tally=tally,
        prepaid_total=prepaid_total,
        prepaid_accounts=len(world.prepaid_account_ids),
        opening_prepaid_total=world.opening_prepaid_total,
        postpaid_total=postpaid_total,
        postpaid_accounts=len(world.postpaid_account_ids),
        reconciled=reconciled,
    )


def render_summary(console: Console, summary: Summary) -> None:
    tally = summary.tally
    console.print(
        f"kopek demo: {summary.subscribers} subscribers, {summary.items} items, seed {summary.seed}, database {summary.database_url}",
        style="bold",
        markup=False,
    )
    console.print(
        f"Items: {tally.charged} charged, {tally.refused} refused; {summary.charges_per_second:,.0f} charges/s "
        f"({tally.seconds:.1f} s charging, {summary.wall_seconds:.1f} s in all)",
        markup=False,
    )
    revenue = table("Revenue by charge", "charge plan", "charge", ">items", ">amount", "currency")
    for (plan, charge, currency), line in sorted(tally.revenue.items()):
        revenue.add_row(cell(plan), cell(charge), cell(line.items), cell(line.amount), cell(currency))
    revenue.add_row(
        Text("total", style="bold"),
        cell(""),
        cell(sum(line.items for line in tally.revenue.values())),
        cell(summary.revenue_total()),
        cell(CURRENCY),
    )
    console.print(revenue)
    balances = table("Balances", "accounts", ">count", ">total", "currency")
    balances.add_row(cell("prepaid, opening"), cell(summary.prepaid_accounts), cell(summary.opening_prepaid_total), cell(CURRENCY))
    balances.add_row(cell("prepaid, now"), cell(summary.prepaid_accounts), cell(summary.prepaid_total), cell(CURRENCY))
    balances.add_row(cell("postpaid, accumulated"), cell(summary.postpaid_accounts), cell(summary.postpaid_total), cell(CURRENCY))
    console.print(balances)
    verdict = "yes, to the cent" if summary.reconciled else "NO: balances and charged amounts disagree"
    console.print(f"Balances agree with the charged items: {verdict}", style="green" if summary.reconciled else "bold red", markup=False)
    refusals = table("Refusals by category and reason", "category", "reason", "code", ">count")
    for (category, reason, code), count in sorted(tally.refusals.items(), key=lambda entry: (-entry[1], entry[0])):
        refusals.add_row(cell(category), cell(reason or None), cell(code), cell(count))
    console.print(refusals if tally.refusals else "Refusals: none")

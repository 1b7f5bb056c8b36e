"""The ``kopek`` command: ``kopek <noun> <verb>``, each command loaded when it is used.

Commands open the database by URL (``--database-url``, else ``KOPEK_DATABASE_URL``,
else the SQLite file ``kopek.db`` in the working folder) and create and migrate it
on first use. Every command has ``--help``; those that print take ``--json``.
Exit codes: 0 done; 1 refused (the structured error on stderr); 2 a usage error of the
command line; 75 refused for now, retry later (``TEMPORARY_ILLEGAL_STATE``).

This module imports no command module: ``kopek --help`` answers from the summaries
below (see :mod:`kopek.cli.lazy`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from kopek import __version__
from kopek.cli.lazy import LazyCommand, LazyGroup

SUMMARY = """kopek, an open convergent charging engine.

\b
Set up: init, catalog, master-data, accounts, contracts, accesses, api-keys.
Charge: charge, quote, authorizations, sessions, refill, fees.
Recharge: recharge, recharge-jobs, restoration-point, counter-journal.
Batch: cdrs, rate, jobs, items.
Migrate: contract-states, migration.
Run and check: serve, diameter, notifications, ledger, audit, demo.
"""

COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand("kopek.cli.database:init", "Create the database if needed and bring its schema up to date."),
    "serve": LazyCommand("kopek.cli.serving:serve", "Serve the HTTP API (Swagger UI at /v1/docs, ReDoc at /v1/redoc)."),
    "catalog": LazyCommand("kopek.cli.catalog:app", "Validate, load, list, compare and show catalog versions."),
    "master-data": LazyCommand("kopek.cli.master_data:app", "Load master data in bulk."),
    "accounts": LazyCommand("kopek.cli.accounts:app", "Subscriber accounts and their prepaid and postpaid accounts."),
    "contracts": LazyCommand("kopek.cli.contracts:app", "Charging contracts: create, list, show, update."),
    "accesses": LazyCommand("kopek.cli.contracts:accesses_app", "Accesses: which contract a service id and user id select."),
    "api-keys": LazyCommand("kopek.cli.api_keys:app", "API keys with roles for the HTTP API."),
    "charge": LazyCommand("kopek.cli.charging:charge", "Charge one chargeable item (offline charging)."),
    "quote": LazyCommand("kopek.cli.quote:quote", "Price one chargeable item without charging it (price enquiry)."),
    "authorizations": LazyCommand(
        "kopek.cli.authorizations:app", "Reserve the amount of an item, then capture or release it by its reservation id."
    ),
    "sessions": LazyCommand("kopek.cli.sessions:app", "Online charging sessions: start, update, stop, cancel, list, clean up."),
    "refill": LazyCommand("kopek.cli.refills:refill", "Refill a prepaid balance by a refill plan."),
    "recharge": LazyCommand("kopek.cli.recharges:recharge", "Charge a contract's usage since a date again (a tariff or data fix)."),
    "recharge-jobs": LazyCommand("kopek.cli.recharges:jobs_app", "Mass recharging jobs: start, resume, status."),
    "restoration-point": LazyCommand("kopek.cli.recharges:restoration_point", "A contract's state as of a date."),
    "counter-journal": LazyCommand("kopek.cli.recharges:journal_app", "Prune the counter journal past the retention window."),
    "fees": LazyCommand("kopek.cli.fees:app", "Recurring and one-off fees: charge the due periods, read activations."),
    "cdrs": LazyCommand("kopek.cli.cdrs:app", "Import, list and show stored CDRs."),
    "rate": LazyCommand("kopek.cli.rating_jobs:rate", "Rate and charge the pending CDRs (a rating job, with a progress bar)."),
    "jobs": LazyCommand("kopek.cli.rating_jobs:jobs_app", "Rating jobs: list, status, cancel."),
    "items": LazyCommand("kopek.cli.items:app", "Item files: export charged and chargeable items, list and show files."),
    "contract-states": LazyCommand("kopek.cli.contract_states:app", "Export and restore contract states (JSON lines)."),
    "migration": LazyCommand("kopek.cli.contract_states:migration_app", "Begin and end the migration lock of contracts."),
    "diameter": LazyCommand("kopek.cli.diameter:app", "The Diameter credit-control server (Gy)."),
    "notifications": LazyCommand("kopek.cli.notifications:app", "Business notifications: list them, publish them to NATS."),
    "ledger": LazyCommand("kopek.cli.ledger:app", "Verify that the ledger adds up."),
    "audit": LazyCommand("kopek.cli.audit:app", "The audit log of administrative and money-creating operations."),
    "demo": LazyCommand("kopek.cli.demo:demo", "Charge a generated month of usage of 1,000 subscribers."),
}
"""Every command of ``kopek``: where it lives and what it does, in one line."""


class KopekGroup(LazyGroup):
    lazy = COMMANDS


app = typer.Typer(
    name="kopek",
    cls=KopekGroup,
    help=SUMMARY,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 120},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kopek {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print kopek's version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """kopek, an open convergent charging engine."""


def main() -> None:
    """Entry point of the ``kopek`` console script."""
    app()

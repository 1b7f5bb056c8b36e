"""``kopek catalog``: validate, load, show a pricing catalog and print its JSON Schema."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from kopek.admin.catalog import CatalogDiff, CatalogVersionSummary
from kopek.cli.options import AfterNumber, DatabaseUrl, InputFile, Json, PageSize, actor, open_engine
from kopek.cli.output import Output, cell, emit_page, reporting, table
from kopek.domain.catalog import Catalog, catalog_json_schema
from kopek.engine import Engine
from kopek.paging import page

app = typer.Typer(
    rich_markup_mode=None, help="The pricing catalog: validate, load, list, compare and show its versions.", no_args_is_help=True
)


@app.command("validate")
def validate(file: InputFile, json_output: Json = False) -> None:
    """Check a catalog file without storing it; print every fault and exit 1 if there is any.

    Needs no database.
    """
    output = Output(json_output)
    source = str(file)
    with reporting(output, source=source):
        catalog = Engine.validate_catalog_file(file)
    output.emit(
        {"valid": True, "source": source, **_names(catalog)},
        lambda console: console.print(_done(f"{source}: valid catalog, {_summary(catalog)}")),
    )


@app.command("load")
def load(file: InputFile, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Validate a catalog file and store it as the newest catalog version (audited)."""
    output = Output(json_output)
    source = str(file)
    with reporting(output, source=source), open_engine(database_url) as engine:
        loaded = engine.load_catalog_version(file, actor=actor())
    catalog, version = loaded.catalog, loaded.version
    said = f"Loaded {source} as catalog version {version}" if loaded.created else f"Unchanged: version {version} already is {source}"
    output.emit(
        {"version": version, "created": loaded.created, "source": source, **_names(catalog)},
        lambda console: console.print(_done(f"{said}: {_summary(catalog)}")),
    )


@app.command("list")
def list_versions(after_id: AfterNumber = 0, limit: PageSize = 100, database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """List the stored catalog versions, oldest first: when each was loaded and from what."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        found, after = page(
            lambda cursor, size: engine.catalog_versions(after_id=cursor, limit=size), after_id, limit, lambda row: row.version
        )
    emit_page(output, "versions", found, after, lambda console: _render_versions(console, found))


def _render_versions(console: Console, found: list[CatalogVersionSummary]) -> None:
    shown = table("Catalog versions", ">version", "loaded", "source")
    for row in found:
        shown.add_row(cell(row.version), cell(row.loaded_at), cell(row.source))
    console.print(shown)


@app.command("diff")
def diff(
    from_version: Annotated[int, typer.Argument(help="The version to compare from.", min=1, show_default=False)],
    to_version: Annotated[
        int | None, typer.Argument(help="The version to compare to; default: the newest.", min=1, show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Show what changed from one catalog version to another: '+' added, '-' removed, '~' changed, each with its path."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        changes = engine.catalog_diff(from_version, to_version)
    output.emit(changes, lambda console: _render_diff(console, changes))


_MARKS = {"added": "+", "removed": "-", "changed": "~"}


def _render_diff(console: Console, found: CatalogDiff) -> None:
    console.print(
        f"Catalog version {found.from_version} -> {found.to_version}: {found.changes_total} change(s)", style="bold", markup=False
    )
    for change in found.changes:
        shown = {"added": _compact(change.after), "removed": _compact(change.before)}.get(
            change.kind.value, f"{_compact(change.before)} -> {_compact(change.after)}"
        )
        console.print(f"{_MARKS[change.kind.value]} {change.path}: {shown}", markup=False)
    if found.changes_total > len(found.changes):
        console.print(f"(only the first {len(found.changes)} changes are listed)", style="dim")


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@app.command("show")
def show(
    version: Annotated[int | None, typer.Option("--version", help="This version; default: the newest, which charging uses.", min=1)] = None,
    database_url: DatabaseUrl = None,
    json_output: Json = False,
) -> None:
    """Show a catalog version: its item classes and charge plans (the whole document with --json)."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        current = engine.catalog() if version is None else engine.catalog_version(version)
    output.emit(
        {"version": current.version, "catalog": current.catalog.model_dump(mode="json", by_alias=True, exclude_defaults=True)},
        lambda console: _render_catalog(console, current.version, current.catalog),
    )


@app.command("schema")
def schema(json_output: Json = False) -> None:
    """Print the JSON Schema of a catalog file (always JSON; for editors and validators)."""
    del json_output  # The schema is JSON either way; the flag is accepted like on every command.
    sys.stdout.write(json.dumps(catalog_json_schema(), indent=2) + "\n")


def _names(catalog: Catalog) -> dict[str, list[str]]:
    return {
        "item_classes": [item_class.name for item_class in catalog.item_classes],
        "charge_plans": [plan.name for plan in catalog.charge_plans],
    }


def _summary(catalog: Catalog) -> str:
    return f"{len(catalog.item_classes)} item class(es), {len(catalog.charge_plans)} charge plan(s)"


def _done(message: str) -> Text:
    return Text(message, style="green")


def _render_catalog(console: Console, version: int, catalog: Catalog) -> None:
    console.print(f"Catalog version {version}", style="bold")
    classes = table("Item classes", "name", "quantity", "properties")
    for item_class in catalog.item_classes:
        quantity = f"{item_class.quantity} ({item_class.quantity_unit})" if item_class.quantity else None
        properties = ", ".join(
            f"{spec.name}: {spec.type}" + ("" if spec.required and spec.default is None else "?") for spec in item_class.properties
        )
        classes.add_row(cell(item_class.name), cell(quantity), cell(properties))
    console.print(classes)
    plans = table("Charge plans", "name", ">version", "currency", "counters", "charges")
    for plan in catalog.charge_plans:
        counters = ", ".join(f"{spec.name} ({spec.initial} {spec.unit})" for spec in plan.counters)
        charges = ", ".join(f"{charge.name}: {charge.item_class} -> {charge.account_role}" for charge in plan.charges)
        plans.add_row(cell(plan.name), cell(plan.version), cell(plan.currency), cell(counters or None), cell(charges))
    console.print(plans)

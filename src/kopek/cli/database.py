"""``kopek init``: create the database if needed and bring its schema up to date."""

from __future__ import annotations

from kopek.cli.options import DatabaseUrl, Json, open_engine
from kopek.cli.output import Output, reporting
from kopek.store.database import shown_url


def init(database_url: DatabaseUrl = None, json_output: Json = False) -> None:
    """Create the database if needed and bring its schema up to date; print its URL."""
    output = Output(json_output)
    with reporting(output), open_engine(database_url) as engine:
        url = shown_url(engine.url)
    output.emit({"database_url": url}, lambda console: console.print(f"Database ready: {url}", style="green", markup=False))

"""Options shared by every command, and what they open: the database, input files."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, TypeVar

import pydantic
import typer

from kopek.cli.output import UsageError
from kopek.documents import read_document
from kopek.domain.validation import invalid_input
from kopek.engine import Engine
from kopek.errors import Code, ErrorDetail
from kopek.limits import LIST_PAGE_SIZE_MAX
from kopek.store.database import DATABASE_URL_VARIABLE

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=DATABASE_URL_VARIABLE,
        help="Database URL (sqlite:///FILE or postgresql://...). Default: the SQLite file kopek.db in the working folder.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON (errors too, on stderr).")]
AfterKey = Annotated[
    str, typer.Option("--after-id", help="Only records whose id sorts after this one: the previous page's last id.", show_default=False)
]
AfterNumber = Annotated[int, typer.Option("--after-id", help="Only records with a larger id: the previous page's last id.", min=0)]
PageSize = Annotated[int, typer.Option("--limit", help="At most this many records.", min=1, max=LIST_PAGE_SIZE_MAX)]
InputFile = Annotated[Path, typer.Argument(help="A YAML or JSON file.", show_default=False, dir_okay=False)]

Model = TypeVar("Model", bound=pydantic.BaseModel)


def open_engine(url: str | None) -> Engine:
    """An engine on ``url`` (else ``KOPEK_DATABASE_URL``, else ``kopek.db``), created and migrated."""
    return Engine(url)


def actor() -> str:
    """Who runs the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def read_model(path: Path, model: type[Model], *, what: str) -> Model:
    """Read a YAML or JSON file as ``model``; faults name the file and the path inside it."""
    source = str(path)
    document = read_document(path)
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as error:
        raise invalid_input(error, code=Code.MASTER_DATA_INVALID, what=what, source=source) from error


def key_values(pairs: list[str] | None, *, option: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` as ``{"a": "1", "b": "2"}``; a pair without ``=``, or a name given twice, is a usage error:
    the last of two values silently winning would charge something else than was typed."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sign, value = pair.partition("=")
        name = key.strip()
        if not sign or not name:
            raise UsageError(
                code=Code.REQUEST_INVALID,
                message=f"{option} expects NAME=VALUE, got {pair!r}",
                details=(ErrorDetail(f"expected NAME=VALUE, got {pair!r}", (option,)),),
            )
        if name in result:
            raise UsageError(
                code=Code.REQUEST_INVALID,
                message=f"{option} names {name!r} twice ({result[name]!r} and {value!r}); give each name once",
                details=(ErrorDetail(f"{name!r} given twice", (option, name)),),
            )
        result[name] = value
    return result

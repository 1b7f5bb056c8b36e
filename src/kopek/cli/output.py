"""How commands print: results as Rich text or as JSON (``--json``), errors on stderr.

Every command prints its result to stdout and nothing else there, so ``--json``
output can be piped. Errors, and progress bars, go to stderr. An error is the one
structured shape ``{category, reason, code, message, details}``: as JSON with
``--json``, else as a headline followed by one line per detail. Details that point
into a file read by the command print as ``FILE: path.inside[0].file: message``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NoReturn

import pydantic
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kopek.domain.catalog_load import format_location
from kopek.domain.validation import invalid_input
from kopek.errors import Category, Code, ErrorDetail, IllegalSystemStateError, InvalidError, KopekError
from kopek.money import to_text

Render = Callable[[Console], None]

PIPED_WIDTH_CHARS: Final = 200

EXIT_REFUSED: Final = 1
"""The input or the state refuses the command (any error but those below)."""
EXIT_USAGE: Final = 2
"""The command line itself is wrong (an option repeated, misspelt, or two that exclude each other), as click says for its own checks."""
EXIT_RETRY_LATER: Final = 75
"""``TEMPORARY_ILLEGAL_STATE``: try again later without change (``EX_TEMPFAIL`` of sysexits.h)."""


class UsageError(InvalidError):
    """A fault of the command line itself, found by a command (exit 2, like click's own usage errors)."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: amounts as exact strings, dates in ISO 8601."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return to_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def json_text(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def cell(value: object) -> Text:
    """A table cell that shows ``value`` literally (no Rich markup), amounts exact."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, Decimal):
        return Text(to_text(value))
    if isinstance(value, datetime):
        return Text(value.isoformat())
    return Text(str(value))


def table(title: str | None, *columns: str) -> Table:
    """A plain table; columns whose name starts with ``>`` are right-aligned (numbers)."""
    shown = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False, header_style="bold")
    for column in columns:
        right = column.startswith(">")
        shown.add_column(column.lstrip(">"), justify="right" if right else "left")
    return shown


@dataclass(frozen=True, slots=True)
class Output:
    """The output mode of one command run."""

    json: bool = False

    @staticmethod
    def console(*, stderr: bool = False) -> Console:
        # Built per call, so the console writes to whatever sys.stdout is now (tests swap it).
        console = Console(stderr=stderr, highlight=False, soft_wrap=True)
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # Piped output is read by people with wide windows and by scripts: do not cut cells.
            console.width = PIPED_WIDTH_CHARS
        return console

    def emit(self, data: Any, render: Render) -> None:
        """Print a result: ``data`` as JSON with ``--json``, else what ``render`` draws."""
        if self.json:
            sys.stdout.write(json_text(data) + "\n")
            sys.stdout.flush()
        else:
            render(self.console())

    def error(self, error: KopekError, *, source: str | None = None, extra: Mapping[str, Any] | None = None) -> None:
        """Print ``error`` to stderr; ``source`` is the file the command read, if any."""
        if self.json:
            sys.stderr.write(json_text({**error.as_dict(), **(extra or {})}) + "\n")
        else:
            sys.stderr.write("\n".join(error_lines(error, source=source)) + "\n")
        sys.stderr.flush()


def emit_page(output: Output, name: str, records: Sequence[Any], next_after_id: object, render: Render) -> None:
    """Print one page of a list: as JSON ``{name: [...], "next_after_id": ...}``, or what ``render`` draws and how to read
    the next page."""

    def draw(console: Console) -> None:
        render(console)
        if next_after_id is not None:
            console.print(f"More follow: add --after-id {next_after_id}", style="dim", markup=False)

    output.emit({name: records, "next_after_id": next_after_id}, draw)


def error_lines(error: KopekError, *, source: str | None = None) -> list[str]:
    """The readable form of an error: a headline, one line per detail, then one line per cause."""
    lines = [f"error [{_label(error)}]: {_one_line(error.message)}"]
    lines.extend(detail_line(detail, source=source) for detail in error.details)
    lines.extend(f"  caused by [{_label(cause)}]: {_one_line(cause.message)}" for cause in error.cause_chain())
    return lines


def _label(error: KopekError) -> str:
    return "/".join(part for part in (error.category.value, error.reason.value if error.reason else None, error.code.value) if part)


def detail_line(detail: ErrorDetail, *, source: str | None = None) -> str:
    location = detail.location
    message = _one_line(detail.message)
    if source is not None and location and location[0] == source:
        return f"{source}: {format_location(location[1:])}: {message}"
    if not location:
        return f"  {message}"
    return f"  {format_location(location)}: {message}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def reporting(output: Output, *, source: str | None = None) -> Iterator[None]:
    """Turn any error raised inside into the structured error on stderr and its exit code (:func:`exit_code`)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KopekError as error:
        fail(output, error, source=source)
    except pydantic.ValidationError as error:
        fail(output, invalid_input(error, code=Code.REQUEST_INVALID, what="the request"), source=source)
    except OSError as error:
        name = error.filename if error.filename is not None else source
        fail(output, InvalidError(code=Code.REQUEST_INVALID, message=f"{name}: {error.strerror or error}"), source=source)
    except Exception as error:
        # Every fault, even a bug, reaches the user in the one error shape.
        fail(output, IllegalSystemStateError(code=Code.UNEXPECTED_FAULT, message=f"{type(error).__name__}: {error}"), source=source)


def fail(output: Output, error: KopekError, *, source: str | None = None, extra: Mapping[str, Any] | None = None) -> NoReturn:
    output.error(error, source=source, extra=extra)
    raise typer.Exit(exit_code(error))


def exit_code(error: KopekError) -> int:
    """75 for a refusal that a later retry may cure, 2 for a fault of the command line, else 1."""
    if error.category is Category.TEMPORARY_ILLEGAL_STATE:
        return EXIT_RETRY_LATER
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return EXIT_REFUSED

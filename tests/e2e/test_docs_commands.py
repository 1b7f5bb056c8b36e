"""Every command block of the documentation runs as written, and answers what the page shows.

Each page (README.md, examples/README.md, every page of docs/) runs on a fresh database in a
folder of its own holding a copy of ``examples/``: its ``console`` blocks in order, each ``$``
command through the real ``kopek`` command (``curl`` through the real HTTP app on the same
database), its output compared with the lines the page shows under it. Ids (32 hex digits) are
compared as ids, trailing spaces are ignored, and a line holding ``...`` stands for whatever the
page chose not to show there (an instant that depends on the day it runs). A command whose
output shows ``error [`` must fail; every other one must succeed. The README's Python block runs
too, and prints what its comment says.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.api.app import create_app
from tests.e2e.cli_support import Kopek

REPOSITORY = Path(__file__).resolve().parents[2]
PAGES = [REPOSITORY / "README.md", REPOSITORY / "examples" / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
NOT_RUN = {
    ("kopek", "demo"): "charges a month of generated usage, about a minute; tests/e2e/test_cli_demo.py runs it small",
    ("kopek", "serve"): "a server that runs until stopped; tests/e2e/test_cli_serve.py starts one",
}
"""Commands shown in the pages that this test does not run, and why."""
REPORTING = {("kopek", "rate"), ("kopek", "cdrs"), ("kopek", "fees"), ("kopek", "ledger"), ("kopek", "contract-states")}
"""Commands that print a report and exit 1 when it holds a refusal (a failed CDR, a refused row, a failed contract)."""

_ID = re.compile(r"[0-9a-f]{32}")
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    shown: list[str]


def _blocks(page: Path, language: str) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [
        (text[: match.start()].count("\n") + 1, textwrap.dedent(match.group(3)))
        for match in _FENCE.finditer(text)
        if match.group(2) == language
    ]


def _commands(page: Path) -> list[Command]:
    commands: list[Command] = []
    for start, body in _blocks(page, "console"):
        for offset, line in enumerate(body.splitlines()):
            if line.startswith("$ "):
                commands.append(Command(page.name, start + offset + 1, line[2:], []))
            elif commands and commands[-1].text.endswith("\\"):
                previous = commands[-1]
                commands[-1] = Command(previous.page, previous.line, previous.text[:-1] + " " + line.strip(), previous.shown)
            elif commands and not _complete(commands[-1].text):
                previous = commands[-1]  # a quoted argument (a JSON body) goes on over several lines
                commands[-1] = Command(previous.page, previous.line, previous.text + "\n" + line, previous.shown)
            elif commands:
                commands[-1].shown.append(line)
    return commands


def _complete(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def _normal(lines: list[str]) -> list[str]:
    shown = [_ID.sub("<id>", line.rstrip()) for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    while shown and not shown[0]:
        shown.pop(0)  # a progress bar on stderr leaves an empty line behind
    return shown


def _matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    patterns = [".*".join(re.escape(part) for part in want.split("...")) for want in expected]
    return all(re.fullmatch(pattern, got) for pattern, got in zip(patterns, actual, strict=True))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder of its own with a copy of examples/; the default database (kopek.db) is created there."""
    shutil.copytree(REPOSITORY / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOPEK_DATABASE_URL", raising=False)
    return tmp_path


def test_the_pages_have_command_blocks_to_run() -> None:
    counted = {page.name: len(_commands(page)) for page in PAGES}

    assert sum(counted.values()) >= 40
    shown = ("README.md", "sessions.md", "batch.md", "catalog.md", "migration.md", "item-files.md", "operations.md", "notifications.md")
    assert [page for page in shown if counted[page] == 0] == []


@pytest.mark.parametrize("page", [page for page in PAGES if _commands(page)], ids=lambda page: page.name)
def test_every_command_of_the_page_answers_what_the_page_shows(folder: Path, page: Path) -> None:
    kopek = Kopek(url=None)
    for command in _commands(page):
        words = shlex.split(command.text, comments=True)
        if tuple(words[:2]) in NOT_RUN:
            continue
        where = f"{command.page}:{command.line}: {command.text}"
        if words[0] == "curl":
            answer = _curl(folder, words[1:])
            assert _same_json(_normal(command.shown), _normal(answer.splitlines())), f"{where}\ngot: {answer}"
            continue
        assert words[0] == "kopek", where
        result = kopek.run(*words[1:])
        refused = any(line.startswith("error [") for line in command.shown)
        allowed = {1, 2, 75} if refused else ({0, 1} if tuple(words[:2]) in REPORTING else {0})
        assert result.exit_code in allowed, f"{where}\nexit {result.exit_code}\n{result.output}"
        actual = _normal(result.output.splitlines())
        assert _matches(_normal(command.shown), actual), f"{where}\nshown:\n" + "\n".join(command.shown) + "\ngot:\n" + "\n".join(actual)
    if page.name == "README.md":
        _run_the_python_blocks(page)


def _curl(folder: Path, arguments: list[str]) -> str:
    """What ``curl -s [-X METHOD] [-H HEADER] [-d BODY] URL`` answers from the app over the folder's database."""
    method, headers, body, url = "GET", {}, None, ""
    words = iter(arguments)
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(words)
            method = "POST" if method == "GET" else method
        elif not word.startswith("-"):
            url = word
    path = "/" + url.split("/", 1)[1] if "/" in url else "/"
    with Engine(f"sqlite:///{folder / 'kopek.db'}") as engine, TestClient(create_app(engine)) as client:
        return client.request(method, path, content=body, headers=headers).text


def _same_json(expected: list[str], actual: list[str]) -> bool:
    def parsed(lines: list[str]) -> Any:
        return [json.loads(line) for line in lines if line.strip()]

    return bool(parsed(expected) == parsed(actual))


def _run_the_python_blocks(page: Path) -> None:
    for line, body in _blocks(page, "python"):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(body, f"{page.name}:{line}", "exec"), {})
        said = [text.split("#", 1)[1].split("(")[0].strip() for text in body.splitlines() if "print(" in text and "#" in text]
        where = f"{page.name}:{line}"
        assert printed.getvalue().split() == " ".join(said).split(), f"{where}: printed {printed.getvalue()!r}, the page says {said}"

"""Running the ``kopek`` command in-process for the CLI end-to-end tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from kopek.cli import app

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_CATALOG = REPOSITORY / "examples" / "catalog.yaml"
EXAMPLE_MASTER_DATA = REPOSITORY / "examples" / "master-data.yaml"

ALICE = "33612345678"
BOB = "33687654321"
CAROL = "33698765432"


@dataclass
class Kopek:
    """The ``kopek`` command on one database; ``KOPEK_DATABASE_URL`` is cleared unless given.

    Tables are drawn 200 characters wide, whatever terminal runs the tests.
    """

    url: str | None
    env: dict[str, str | None] = field(default_factory=lambda: {"KOPEK_DATABASE_URL": None})

    def __post_init__(self) -> None:
        self.env = {"KOPEK_DATABASE_URL": None, "COLUMNS": "200", **self.env}

    def run(self, *args: str) -> Result:
        """``kopek ARGS`` as typed, without adding the database URL."""
        return CliRunner(env=self.env).invoke(app, list(args))

    def db(self, *args: str) -> Result:
        """``kopek ARGS --database-url URL``."""
        return self.run(*args, *(["--database-url", self.url] if self.url else []))

    def ok(self, *args: str) -> Result:
        result = self.db(*args)
        assert result.exit_code == 0, f"kopek {' '.join(args)} exited {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        """Run with ``--json``, expect success, return the parsed stdout."""
        return json.loads(self.ok(*args, "--json").stdout)

    def refused(self, *args: str, exit_code: int = 1) -> dict[str, Any]:
        """Run with ``--json``, expect ``exit_code`` (1: refused; 2: a usage error; 75: retry later) and nothing on
        stdout; return the error from stderr."""
        result = self.db(*args, "--json")
        assert result.exit_code == exit_code, (
            f"expected exit {exit_code}, got {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        assert result.stdout == ""
        error: dict[str, Any] = json.loads(result.stderr)
        assert set(error) >= {"category", "reason", "code", "message", "details"}
        return error

    def loaded(self) -> Kopek:
        """Load the example catalog and master data (alice, bob, carol)."""
        self.ok("init")
        self.ok("catalog", "load", str(EXAMPLE_CATALOG))
        self.ok("master-data", "load", str(EXAMPLE_MASTER_DATA))
        return self


def call(user: str, *, seconds: int, destination: str, at: str = "2026-06-01T10:00:00+02:00") -> list[str]:
    return [
        "charge",
        "--class",
        "voice_call",
        "--service-id",
        "mobile",
        "--user-id",
        user,
        "--at",
        at,
        "-p",
        f"duration={seconds}",
        "-p",
        f"destination={destination}",
    ]


def sms(user: str, *, zone: str, at: str = "2026-06-01T11:00:00+02:00") -> list[str]:
    return ["charge", "--class", "sms", "--service-id", "mobile", "--user-id", user, "--at", at, "-p", f"zone={zone}"]


def data(user: str, *, volume_bytes: int, at: str = "2026-06-01T12:00:00+02:00") -> list[str]:
    return ["charge", "--class", "data_session", "--service-id", "mobile", "--user-id", user, "--at", at, "-p", f"volume={volume_bytes}"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path

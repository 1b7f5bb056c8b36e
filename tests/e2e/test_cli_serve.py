"""``kopek serve`` hands the HTTP app over the chosen database to uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.e2e.cli_support import Kopek


class RecordingServer:
    """Stands in for ``uvicorn.run``: records what it was asked to serve."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, app: Any, **options: Any) -> None:
        self.calls.append((app, options))


def test_serve_runs_the_api_app_on_the_given_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = RecordingServer()
    monkeypatch.setattr(uvicorn, "run", server)
    result = Kopek(url=f"sqlite:///{tmp_path / 'kopek.db'}").db("serve", "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0, result.stderr
    ((app, options),) = server.calls
    assert isinstance(app, FastAPI)
    assert (options["host"], options["port"]) == ("0.0.0.0", 8123)
    assert (tmp_path / "kopek.db").exists()

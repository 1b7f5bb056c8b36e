"""``kopek serve`` runs the HTTP API over the chosen database, created on first use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVER_START_SECONDS_MAX = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_answers_health_and_charging_routes_then_stops(tmp_path: Path) -> None:
    port = _free_port()
    database = tmp_path / "served.db"
    environment = {**os.environ, "KOPEK_DATABASE_URL": f"sqlite:///{database}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
        refused = httpx.post(f"http://127.0.0.1:{port}/v1/charging", json={"item": {}}, timeout=5)
        assert refused.status_code == 422
        assert refused.json()["category"] == "INVALID"
        assert database.exists()
    finally:
        server.terminate()
        server.wait(timeout=SERVER_START_SECONDS_MAX)
        assert server.stderr is not None
        server.stderr.close()


def _wait_for_health(url: str) -> httpx.Response:
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

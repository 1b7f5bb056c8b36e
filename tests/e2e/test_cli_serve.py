"""``kopek serve`` runs the HTTP API over the chosen database, created on first use."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the worker processes from /proc")
def test_serve_with_two_workers_runs_two_worker_processes_that_answer_and_stop_with_it(tmp_path: Path) -> None:
    port = _free_port()
    environment = {**os.environ, "KOPEK_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}/healthz").status_code == 200
        workers = _wait_for_children(server.pid, 2)
        for _ in range(4):
            assert httpx.post(f"http://127.0.0.1:{port}/v1/charging", json={"item": {}}, timeout=5).status_code == 422
    finally:
        server.terminate()
        server.wait(timeout=SERVER_START_SECONDS_MAX)
    assert len(workers) == 2
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while any(Path(f"/proc/{worker}").exists() for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{worker}").exists() for worker in workers)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _wait_for_children(pid: int, count: int) -> list[int]:
    """The child processes of ``pid`` once there are ``count`` of them (Granian starts its workers one by one)."""
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while len(children := _children(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return children


def _wait_for_health(url: str) -> httpx.Response:
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_logs_one_json_line_per_request_with_its_request_id(tmp_path: Path) -> None:
    port = _free_port()
    environment = {**os.environ, "KOPEK_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", "serve", "--port", str(port), "--log-format", "json", "--cleanup-interval-seconds", "0"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz")
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/accounts/nobody", headers={"X-Request-Id": "trace-json-1"}, timeout=5)
        assert answer.status_code == 404 and answer.json()["request_id"] == "trace-json-1"
    finally:
        server.terminate()
        server.wait(timeout=SERVER_START_SECONDS_MAX)
    assert server.stderr is not None
    lines = [json.loads(line) for line in server.stderr.read().splitlines() if line.startswith("{")]
    server.stderr.close()
    request = next(line for line in lines if line.get("request_id") == "trace-json-1")
    assert {key: request[key] for key in ("logger", "method", "route", "status", "outcome")} == {
        "logger": "kopek.requests",
        "method": "GET",
        "route": "/v1/accounts/{account_id}",
        "status": 404,
        "outcome": "DOES_NOT_EXIST",
    }
    assert request["duration_ms"] >= 0 and request["time"]


def test_a_worker_ends_when_the_server_that_started_it_is_killed(tmp_path: Path) -> None:
    port = _free_port()
    environment = {**os.environ, "KOPEK_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", "serve", "--port", str(port), "--cleanup-interval-seconds", "0"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz")
        workers = _wait_for_children(server.pid, 1)
        assert workers, "the server runs its app in a worker process"
        server.kill()
        server.wait(timeout=SERVER_START_SECONDS_MAX)
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while any(_alive(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(worker) for worker in workers), "a worker outlived the killed server"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"

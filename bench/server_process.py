"""``kopek serve`` in a process of its own, driven over HTTP/1.1 keep-alive, and the CPU time it and its database use.

The server is started as ``python -m kopek.cli serve`` (Granian, ``--workers N``) or, to compare
servers, as uvicorn with its app factory, each in a new process group that is terminated when
the benchmark is done. CPU time is read from ``/proc/<pid>/stat`` (user plus system) for every
process of the server's tree and for the PostgreSQL backends whose ``application_name`` is the
one given in the server's database URL (PostgreSQL runs on this machine).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class ServerKind(StrEnum):
    """``kopek serve`` (Granian), or uvicorn with the same app factory: with httptools and uvloop when they are
    installed (they are not dependencies; docs/performance.md compares the two servers)."""

    GRANIAN = "granian"
    UVICORN = "uvicorn"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def with_application_name(url: str, prefix: str) -> tuple[str, str]:
    """``url`` with an ``application_name`` of its own (``prefix`` and a random part), and that name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return f"{url}{'&' if '?' in url else '?'}application_name={name}", name


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its process id, its base port and the ``application_name`` of its database sessions."""

    pid: int
    port: int
    application_name: str


def _command(kind: ServerKind, url: str, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    environment = dict(os.environ)
    if kind is ServerKind.GRANIAN:
        arguments = ["-m", "kopek.cli", "serve", "--database-url", url, "--port", str(port), "--workers", str(workers)]
        return [sys.executable, *arguments, "--log-level", "warning", "--cleanup-interval-seconds", "0"], environment
    from kopek.api.serving import APP_FACTORY, SETTINGS_VARIABLE, ServeSettings

    environment[SETTINGS_VARIABLE] = ServeSettings(database_url=url, cleanup_interval_seconds=0).model_dump_json()
    arguments = ["-m", "uvicorn", APP_FACTORY, "--factory", "--port", str(port), "--workers", str(workers)]
    options = ["--http", "auto", "--loop", "auto", "--log-level", "warning", "--no-access-log"]  # httptools and uvloop when installed
    return [sys.executable, *arguments, *options], environment


@contextmanager
def kopek_server(url: str, *, workers: int = 1, kind: ServerKind = ServerKind.GRANIAN) -> Iterator[Server]:
    """Serve the (already migrated) database at ``url`` in a child process until the block ends; waits for ``/healthz``."""
    served_url, application_name = with_application_name(url, "kopek-bench-server")
    port = free_port()
    command, environment = _command(kind, served_url, port, workers)
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_until_healthy(process, port)
        yield Server(process.pid, port, application_name)
    finally:
        _stop(process)


def _wait_until_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = process.stderr.read().decode()[-300:] if process.stderr is not None else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {said}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz within {START_TIMEOUT_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (it and its workers only), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    finally:
        if process.stderr is not None:
            process.stderr.close()


REFUSAL_STATUS = 409
"""A refusal the usage mix asks for (a barred number): an answer, not a failure of the benchmark."""


class Client:
    """One keep-alive HTTP/1.1 connection to the server; ``post`` sends JSON and raises on any status of 400 or more but a
    refusal (409), which the usage mix causes now and then (about one charge in 5,000 dials a barred number)."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._headers = {"Content-Type": "application/json"}

    def post(self, path: str, document: dict[str, Any]) -> bytes:
        self._connection.request("POST", path, json.dumps(document), self._headers)
        response = self._connection.getresponse()
        answer = response.read()
        if response.status >= 400 and response.status != REFUSAL_STATUS:
            raise RuntimeError(f"HTTP {response.status} on {path}: {answer[:200]!r}")
        return answer

    def close(self) -> None:
        self._connection.close()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc/<pid>/task/<tid>/children``."""
    found, waiting = [], [pid]
    while waiting:
        current = waiting.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    waiting.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def backends(connection: psycopg.Connection[Any], application_name: str) -> list[int]:
    """The process ids of the PostgreSQL backends whose sessions carry ``application_name``."""
    rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)).fetchall()
    return [int(row[0]) for row in rows]


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of ``pid`` (all its threads), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def cpu_snapshot(pids: Sequence[int]) -> dict[int, float]:
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots: a process that appeared counts all of its time, one that vanished none of the interval."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

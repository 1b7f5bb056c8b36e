"""Protocol adapter fixtures: the protocol world on SQLite and PostgreSQL, the Nchf app in process."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kopek import Engine
from kopek.api.app import create_app
from tests.protocol_world import build_world, mapping
from tests.protocols.diameter_support import wait_for_stopped_nodes

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session", autouse=True)
def diameter_nodes_stopped() -> Iterator[None]:
    """The Diameter nodes the tests stopped in the background have all stopped when the run ends."""
    yield
    wait_for_stopped_nodes()


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


@pytest.fixture
def nchf(world: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(world, protocol_mapping=mapping())) as client:
        yield client


class _NotifyReceiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        self.received.append({"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def notify_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A consumer's notification endpoint: a real HTTP server on 127.0.0.1 that records what it receives."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_NotifyReceiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/smf/notify/pdu-1", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

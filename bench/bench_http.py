"""Offline charging over HTTP: the FastAPI app served by uvicorn on a free local port, driven by httpx.

The server runs in a background thread of this process; each client thread keeps one
keep-alive connection and sends ``POST /v1/charging`` with a fresh idempotency key.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench.bench_engine import WARM_UP, prepared_engine, workloads
from bench.measure import Row, measured, run_threads, skipped
from kopek import ChargeableItem, Engine

START_TIMEOUT_SECONDS = 30


def unavailable() -> str | None:
    """Why the HTTP benchmark cannot run yet, or None."""
    for module in ("kopek.api.app", "uvicorn", "httpx"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            return f"{module} not importable ({error})"
    if not hasattr(importlib.import_module("kopek.api.app"), "create_app"):
        return "kopek.api.app has no create_app"
    return None


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """Serve ``create_app(engine)`` on 127.0.0.1 at a free port; yields the base URL."""
    import uvicorn

    from kopek.api.app import create_app

    # A port the system just handed out, bound again by uvicorn itself: handed a pre-bound
    # socket instead, uvicorn answered each request about 45 ms late (2 ms otherwise).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)


def body(item: ChargeableItem, key: str) -> dict[str, Any]:
    return {
        "item": {
            "item_class": item.item_class,
            "consumption_date": item.consumption_date.isoformat(),
            "service_id": item.service_id,
            "user_id": item.user_id,
            "properties": dict(item.properties),
        },
        "idempotency_key": key,
    }


def run(database: str, open_database: Callable[[], AbstractContextManager[str]], *, threads: int, items: int, subscribers: int) -> Row:
    reason = unavailable()
    if reason is not None:
        return skipped("http: POST /v1/charging", database, reason, threads)
    import httpx

    with open_database() as url, prepared_engine(url, subscribers) as engine, serving(engine) as base_url:
        clients = [httpx.Client(base_url=base_url, timeout=60) for _ in range(threads)]
        try:

            def post(client: httpx.Client, item: ChargeableItem, key: str) -> None:
                response = client.post("/v1/charging", json=body(item, key))
                if response.status_code >= 400:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

            warm = workloads(1, subscribers, WARM_UP, seed=99)[0]
            for number, item in enumerate(warm):
                post(clients[0], item, f"warm-{number}")
            calls = [
                [
                    (lambda client=clients[thread], item=item, key=f"t{thread}-{number}": post(client, item, key))
                    for number, item in enumerate(load)
                ]
                for thread, load in enumerate(workloads(threads, subscribers, items, seed=1))
            ]
            timings = run_threads(calls)
        finally:
            for client in clients:
                client.close()
    return measured("http: POST /v1/charging", database, threads, timings, f"uvicorn + httpx, {subscribers} subscribers")

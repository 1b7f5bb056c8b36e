"""End-to-end fixtures: the real HTTP app over a real engine (SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kopek import Engine
from kopek.api.app import create_app
from tests.worlds import build_world

with warnings.catch_warnings():
    # Starlette's test client prefers httpx2 to the pinned httpx and says so once, when it is
    # first imported; it works the same with httpx. Importing it here, before any test module,
    # keeps that one warning from failing the collection.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def bare_client(engine: Engine) -> Iterator[TestClient]:
    """A client of the app over an empty engine: no catalog, no master data."""
    with TestClient(create_app(engine)) as client:
        yield client


@pytest.fixture
def client(engine: Engine, bare_client: TestClient) -> TestClient:
    """A client of the app over the test world of :mod:`tests.worlds` (alice prepaid, bob postpaid)."""
    build_world(engine)
    return bare_client

"""Protocol adapter fixtures: the protocol world on SQLite and PostgreSQL, the Nchf app in process."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kopek import Engine
from kopek.api.app import create_app
from tests.protocol_world import build_world, mapping

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


@pytest.fixture
def nchf(world: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(world, protocol_mapping=mapping())) as client:
        yield client

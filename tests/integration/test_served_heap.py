"""A served worker freezes what it built before serving out of the garbage collector's passes (kopek.api.serving)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from kopek import Engine
from kopek.api.serving import with_frozen_heap
from tests.worlds import build_world


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()  # a bulk operation of an earlier test of this process gives its heap back, but do not rely on it
    try:
        yield
    finally:
        gc.unfreeze()


@asynccontextmanager
async def _started(app: FastAPI) -> AsyncIterator[None]:
    app.state.started = True
    yield


def _frozen_while_serving(engine: Engine) -> tuple[bool, int]:
    app = FastAPI()

    async def serve() -> tuple[bool, int]:
        async with with_frozen_heap(_started, engine)(app):
            return app.state.started, gc.get_freeze_count()

    return asyncio.run(serve())


@pytest.mark.usefixtures("unfrozen")
def test_the_heap_is_frozen_once_the_app_has_started(engine: Engine) -> None:
    build_world(engine)

    started, frozen = _frozen_while_serving(engine)

    assert started
    assert frozen > 0


@pytest.mark.usefixtures("unfrozen")
def test_a_database_without_a_catalog_still_serves_with_a_frozen_heap(engine: Engine) -> None:
    started, frozen = _frozen_while_serving(engine)

    assert started
    assert frozen > 0

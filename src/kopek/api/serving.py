"""Serving the HTTP app with Granian: HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge) on one port,
in one or more worker processes.

Granian starts each worker by importing :func:`app_from_environment`, an app factory: ``kopek serve``
writes its settings to ``KOPEK_SERVE_SETTINGS`` (JSON) and every worker builds its own engine and app
from them, closing the engine when the app stops. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final, cast

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from kopek.api.app import DEFAULT_ITEM_FILES_DIRECTORY, create_app
from kopek.api.background import Lifespan, then_blocking
from kopek.api.logs import LogFormat, logging_config
from kopek.api.parent_death import end_with_parent
from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT
from kopek.engine import Engine
from kopek.notify.publisher import PublisherSettings
from kopek.protocols import NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT
from kopek.protocols.mapping import ProtocolMapping, read_mapping

SETTINGS_VARIABLE = "KOPEK_SERVE_SETTINGS"
SWITCH_INTERVAL_SECONDS: Final = 0.0005
"""How long a served worker's thread runs Python before it hands the interpreter to another thread that waits for it
(Python's own default: 5 ms). The event loop's thread waits for it to read each request and send each answer while
the blocking threads charge; docs/performance.md, "The interpreter's switch interval"."""
APP_FACTORY = "kopek.api.serving:app_from_environment"

logger = logging.getLogger(__name__)


class PublishingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    nats_url: str
    subject_prefix: str
    stream: str
    interval_seconds: float


class ServeSettings(BaseModel):
    """What every worker of ``kopek serve`` builds its app from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = None
    cleanup_interval_seconds: float = 10
    item_files_directory: Path = DEFAULT_ITEM_FILES_DIRECTORY
    publishing: PublishingSettings | None = None
    protocol_mapping: Path | None = Field(default=None, description="The mapping file that turns on Nchf_ConvergedCharging.")
    nchf_notify_interval_seconds: float = NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT
    open_without_keys: bool = Field(default=True, description="Answer everyone while no API key exists (loopback, --no-auth).")
    session_retention_seconds: int = Field(
        default=SESSION_RETENTION_SECONDS_DEFAULT, description="Ended sessions are removed this long after."
    )
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="text, or json: one JSON object per line.")


def build_app(settings: ServeSettings, *, mapping: ProtocolMapping | None = None) -> FastAPI:
    """The app of one worker over its own engine, which it closes when it stops."""
    engine = Engine(settings.database_url)
    publishing = settings.publishing
    try:
        if mapping is None and settings.protocol_mapping is not None:
            mapping = read_mapping(settings.protocol_mapping)
        app = create_app(
            engine,
            cleanup_interval_seconds=settings.cleanup_interval_seconds,
            item_files_directory=settings.item_files_directory,
            notification_publishing=PublisherSettings(**publishing.model_dump()) if publishing is not None else None,
            protocol_mapping=mapping,
            nchf_notify_interval_seconds=settings.nchf_notify_interval_seconds,
            open_without_keys=settings.open_without_keys,
            session_retention_seconds=settings.session_retention_seconds,
        )
    except BaseException:
        engine.close()
        raise
    serving = cast("Lifespan", app.router.lifespan_context)  # create_app's lifespans yield no state
    app.router.lifespan_context = then_blocking(serving, engine.close)
    return app


def with_frozen_heap(inner: Lifespan, engine: Engine) -> Lifespan:
    """``inner``; once it has started, the current catalog read and every object made so far frozen out of the garbage
    collector's passes (:func:`gc.freeze`).

    A full pass of the collector walks every object of the process: in a worker that has imported and built everything,
    one took 103 to 135 ms here, and every request in flight waits for it. Frozen objects (modules, the app, the compiled
    catalog, the engine's pools) are never walked again, so a full pass walks only what requests made since."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            try:
                await asyncio.to_thread(engine.catalog)
            except Exception:  # no catalog yet, or no database yet: the first request reads it, as without this
                logger.debug("no catalog read before serving", exc_info=True)
            gc.collect()
            gc.freeze()
            yield

    return lifespan


def app_from_environment() -> FastAPI:
    """The app factory Granian calls in each worker: a worker ends with the server that started it, switches between its
    threads every :data:`SWITCH_INTERVAL_SECONDS`, and freezes its heap once started (:func:`with_frozen_heap`)."""
    end_with_parent()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    app = build_app(ServeSettings.model_validate(json.loads(os.environ.get(SETTINGS_VARIABLE, "{}"))))
    app.router.lifespan_context = with_frozen_heap(cast("Lifespan", app.router.lifespan_context), app.state.kopek.engine)
    return app


def serve(settings: ServeSettings, *, host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve until stopped (SIGINT / SIGTERM): HTTP/1.1 and h2c on ``host``:``port``."""
    # Imported here so that the rest of kopek works without the server loaded.
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    os.environ[SETTINGS_VARIABLE] = settings.model_dump_json()
    Granian(
        APP_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        loop=Loops.uvloop,
        workers=workers,
        factory=True,
        log_level=LogLevels(log_level),
        log_dictconfig=logging_config(settings.log_format, log_level),
    ).serve()

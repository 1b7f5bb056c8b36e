"""The HTTP API: a thin FastAPI layer over one :class:`kopek.Engine`.

:func:`create_app` wires everything for one engine; nothing is built at import time
and no module holds state, so several apps (over several engines) can live in one
process. The CLI's ``kopek serve`` runs it under Granian (:mod:`kopek.api.serving`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

import kopek
from kopek.api import (
    routes_accesses,
    routes_accounts,
    routes_audit,
    routes_authorizations,
    routes_catalog,
    routes_cdrs,
    routes_charging,
    routes_contract_states,
    routes_contracts,
    routes_fees,
    routes_item_files,
    routes_ledger,
    routes_master_data,
    routes_notifications,
    routes_operations,
    routes_price_enquiries,
    routes_rating_jobs,
    routes_recharges,
    routes_refills,
    routes_sessions,
    routes_subscriber_accounts,
)
from kopek.api.auth import authorize
from kopek.api.blocking import BlockingCalls
from kopek.api.context import ApiContext
from kopek.api.errors import FaultBarrier, install_error_handlers
from kopek.api.hot_routes import HotRoutes
from kopek.api.job_threads import JobThreads
from kopek.api.metrics import ApiMetrics, DatabaseGauges
from kopek.api.notification_publishing import publishing_lifespan
from kopek.api.observing import RequestObserver
from kopek.api.request_limits import BodySizeLimit
from kopek.api.request_text import NulCharacterRefusal
from kopek.api.session_cleanup import cleanup_lifespan
from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT
from kopek.charging.session_views import CleanupReport
from kopek.engine import Engine
from kopek.notify.publisher import PublisherSettings
from kopek.protocols.mapping import ProtocolMapping
from kopek.protocols.nchf.app import API_ROOT_PATH, nchf_app
from kopek.protocols.nchf.charging_data import ChargingData
from kopek.protocols.nchf.notify import notify_lifespan

DESCRIPTION = """
kopek, a convergent charging engine: pricing catalog, master data (subscriber
accounts, accounts, contracts, accesses) and offline charging.

JSON is snake_case. Amounts and other decimals are written as strings and read
from strings, integers or JSON numbers (parsed exactly, never as binary floats).
Every failure answers one shape, `{category, reason, code, message, details}`;
see docs/errors.md for the categories and codes.
"""


DEFAULT_ITEM_FILES_DIRECTORY = Path("item-files")
"""Item files go to this folder under the server's working folder unless ``kopek serve --item-files-dir`` says otherwise."""


ROUTE_MODULES = (
    routes_catalog,
    routes_subscriber_accounts,
    routes_accounts,
    routes_contracts,
    routes_accesses,
    routes_master_data,
    routes_charging,
    routes_price_enquiries,
    routes_operations,
    routes_notifications,
    routes_contract_states,
    routes_sessions,
    routes_cdrs,
    routes_rating_jobs,
    routes_recharges,
    routes_item_files,
    routes_fees,
    routes_refills,
    routes_authorizations,
    routes_audit,
    routes_ledger,
)
"""Every module of routes; each offers ``router()``."""

OPEN_ROUTE_MODULES = (routes_operations,)
"""Routes that need no API key: ``/healthz`` and ``/metrics``. The OpenAPI document and its pages
(``/v1/openapi.json``, ``/v1/docs``, ``/v1/redoc``) need none either: they describe the API and hold no data."""

OPENAPI_PATH = "/v1/openapi.json"
SWAGGER_UI_PATH = "/v1/docs"
REDOC_PATH = "/v1/redoc"
API_PAGE_ASSETS_PATH = "/v1/docs/assets"
"""Where the pages' scripts and styles are served from: shipped with kopek (``fastapi-offline``), never from a CDN."""


def api_routes() -> list[APIRoute]:
    """Every route of the API, as the modules declare them (for checks over all routes)."""
    return [route for module in ROUTE_MODULES for route in module.router().routes if isinstance(route, APIRoute)]


def _operation_id(route: APIRoute) -> str:
    """Operation ids are the endpoint names (``charge_item``, ``read_contract``, ...)."""
    return route.name


def _schema_models(routes: list[APIRoute]) -> dict[str, type[BaseModel]]:
    """Every pydantic model the routes read or answer, at any depth, by name (the name of its schema)."""
    found: dict[str, type[BaseModel]] = {}
    pending: list[Any] = []
    for route in routes:
        pending += [route.response_model, *(parameter.field_info.annotation for parameter in route.dependant.body_params)]
        pending += [response.get("model") for response in route.responses.values() if isinstance(response, dict)]
    while pending:
        annotation = pending.pop()
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            pending += list(typing.get_args(annotation))
        elif annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            pending += [field.annotation for field in annotation.model_fields.values()]
    return found


def _with_whole_examples(app: FastAPI, routes: list[APIRoute]) -> None:
    """Give each schema of the document its model's examples as written: the framework drops their null fields, which
    makes a null-able field's example look missing."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemas = document.get("components", {}).get("schemas", {})
        for name, model in _schema_models(routes).items():
            extra = model.model_config.get("json_schema_extra")
            if name in schemas and isinstance(extra, dict) and "examples" in extra:
                schemas[name]["examples"] = extra["examples"]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _cleanup_observer(metrics: ApiMetrics) -> Callable[[CleanupReport], None]:
    def observe(report: CleanupReport) -> None:
        metrics.observe_cleanup(expired=len(report.resolved), removed=report.removed)

    return observe


def create_app(
    engine: Engine,
    *,
    cleanup_interval_seconds: float = 0,
    item_files_directory: Path = DEFAULT_ITEM_FILES_DIRECTORY,
    notification_publishing: PublisherSettings | None = None,
    protocol_mapping: ProtocolMapping | None = None,
    nchf_notify_interval_seconds: float = 0,
    open_without_keys: bool = True,
    session_retention_seconds: int = SESSION_RETENTION_SECONDS_DEFAULT,
) -> FastAPI:
    """The HTTP API over ``engine``; the caller owns the engine and closes it.

    ``cleanup_interval_seconds`` > 0 runs the clean-up of charging sessions in the background at
    that interval while the app serves; it (and ``POST /v1/sessions:cleanup``) removes the sessions
    that ended ``session_retention_seconds`` ago or more. ``item_files_directory`` is where
    item-file exports write (docs/item-files.md). ``notification_publishing`` runs the publisher
    of stored notifications to NATS JetStream in the background (docs/notifications.md).
    ``protocol_mapping`` serves Nchf_ConvergedCharging under ``/nchf-convergedcharging/v3``, and
    ``nchf_notify_interval_seconds`` > 0 sends its re-authorizations after refills at that interval
    (docs/protocols.md). ``open_without_keys`` false: while no active API key exists, refuse every
    request but ``/healthz`` and ``/metrics`` rather than answer everyone (docs/security.md).
    """
    metrics = ApiMetrics(route.name for route in api_routes())
    metrics.registry.register(DatabaseGauges(engine.database))
    cleanup = cleanup_lifespan(
        engine, cleanup_interval_seconds, retention_seconds=session_retention_seconds, observe=_cleanup_observer(metrics)
    )
    publishing = publishing_lifespan(cleanup, engine.notification_outbox(), notification_publishing, observe=metrics.observe_published)
    job_threads = JobThreads()
    blocking = BlockingCalls()
    app = FastAPIOffline(
        title="kopek",
        version=kopek.__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=SWAGGER_UI_PATH,
        redoc_url=REDOC_PATH,
        static_url=API_PAGE_ASSETS_PATH,
        swagger_ui_oauth2_redirect_url=f"{SWAGGER_UI_PATH}/oauth2-redirect",
        generate_unique_id_function=_operation_id,
        lifespan=blocking.lifespan(
            job_threads.lifespan(notify_lifespan(publishing, engine, nchf_notify_interval_seconds if protocol_mapping is not None else 0))
        ),
    )
    app.state.kopek = ApiContext(
        engine=engine,
        metrics=metrics,
        item_files_directory=item_files_directory,
        open_without_keys=open_without_keys,
        session_retention_seconds=session_retention_seconds,
        job_threads=job_threads,
        blocking=blocking,
    )
    if protocol_mapping is not None:
        app.mount(API_ROOT_PATH, nchf_app(app.state.kopek, ChargingData(engine, protocol_mapping)))
    routers = [module.router() for module in ROUTE_MODULES]
    for module, router in zip(ROUTE_MODULES, routers, strict=True):
        # Keys are checked per router, so the document declares security on exactly the routes that need a key.
        app.include_router(router, dependencies=[] if module in OPEN_ROUTE_MODULES else [Depends(authorize)])
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    install_error_handlers(app, routes)
    _with_whole_examples(app, routes)
    # The last middleware added runs first: the observer gives each request its id and sees every answer, the fault
    # barrier wraps everything else, the body bound is checked before any route reads a byte, then the text of the request.
    app.add_middleware(NulCharacterRefusal)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(FaultBarrier)
    app.add_middleware(RequestObserver, metrics=metrics)
    # Before all of them (and before the framework's own outermost layer), the hot routes' plain requests are answered with
    # those checks made in one pass, without the layers nor the routing (kopek.api.hot_routes); every other request and
    # event goes through them. Built now, the stack takes no more middlewares.
    hot = [*routes_charging.hot_endpoints(), *routes_sessions.hot_endpoints()]
    app.middleware_stack = HotRoutes(app.build_middleware_stack(), context=app.state.kopek, routes=routes, endpoints=hot)
    return app

"""``/healthz`` and ``/metrics``: for the people and machines that run kopek."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from kopek.api.context import Context
from kopek.api.errors import error_responses, logger
from kopek.errors import Code, TemporaryIllegalStateError

DATABASE_RETRY_AFTER_SECONDS = 5


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]}, use_attribute_docstrings=True, frozen=True)

    status: Literal["ok"]
    """ok: the database answers."""


def health(context: Context) -> Health:
    """Healthy when the database answers; 503 otherwise."""
    try:
        context.engine.ping()
    except sa.exc.SQLAlchemyError as error:
        logger.warning("health check: the database does not answer: %s", error)
        raise TemporaryIllegalStateError(
            code=Code.STORAGE_BUSY, message="the database does not answer", retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS
        ) from error
    return Health(status="ok")


def metrics(context: Context) -> Response:
    """Charges by outcome and their durations, in the Prometheus text format."""
    return Response(context.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def router() -> APIRouter:
    routes = APIRouter(tags=["operations"])
    routes.add_api_route("/healthz", health, methods=["GET"], response_model=Health, summary="Check health", responses=error_responses(503))
    routes.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        response_class=Response,
        summary="Read metrics (Prometheus)",
        responses={
            200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **error_responses(),
        },
    )
    return routes

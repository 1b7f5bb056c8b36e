"""``/v1/catalog``: load a catalog version, read the current one, read the catalog's JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.domain.catalog import catalog_json_schema


class CatalogVersionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = Field(description="The version the catalog was stored as; charging uses the newest.")


class CatalogView(CatalogVersionView):
    document: dict[str, Any] = Field(description="The catalog as stored, decimals as strings; see GET /v1/catalog/schema.")


CatalogDocument = Annotated[
    dict[str, Any],
    Body(
        description=(
            "A catalog document (see GET /v1/catalog/schema). Numbers with a fraction are read exactly, "
            f"as decimals; at most {limits.CATALOG_BYTES_MAX} bytes."
        )
    ),
]


def load_catalog(document: CatalogDocument, context: Context, actor: Actor) -> JSONResponse:
    """Validate the catalog and store it as the newest version (201); every fault is listed in ``details``.

    The same catalog as the newest version stores nothing and answers that version (200). A catalog that
    drops a charge plan, a counter or an item class contracts still use is refused (422,
    ``catalog_drops_what_contracts_use``, naming them)."""
    loaded = context.engine.load_catalog_version(document, actor=actor)
    return JSONResponse(CatalogVersionView(version=loaded.version).model_dump(), status_code=201 if loaded.created else 200)


def read_catalog(context: Context) -> CatalogView:
    """The catalog charging uses now."""
    current = context.engine.catalog()
    return CatalogView(version=current.version, document=current.catalog.model_dump(mode="json", by_alias=True))


def read_catalog_schema() -> dict[str, Any]:
    """The JSON Schema of a catalog document, for editors and validators."""
    return catalog_json_schema()


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/catalog", tags=["catalog"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        load_catalog,
        methods=["POST"],
        status_code=201,
        response_model=CatalogVersionView,
        summary="Load a catalog version",
        responses={
            200: {"model": CatalogVersionView, "description": "The newest version already is this catalog: nothing was stored."},
            **error_responses(422),
        },
    )
    routes.add_api_route(
        "",
        read_catalog,
        methods=["GET"],
        response_model=CatalogView,
        summary="Read the current catalog",
        responses=error_responses(404),
    )
    routes.add_api_route(
        "/schema",
        read_catalog_schema,
        methods=["GET"],
        response_model=dict[str, Any],
        summary="Read the catalog's JSON Schema",
        responses=error_responses(),
    )
    return routes

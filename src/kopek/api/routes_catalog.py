"""``/v1/catalog``: load a catalog version, read the current one, read the catalog's JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.admin.catalog import CatalogDiff, CatalogVersionSummary
from kopek.api.auth import Actor
from kopek.api.context import AfterIdQuery, Context, PageSizeQuery, RecordIdPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.domain.catalog import catalog_json_schema
from kopek.paging import page


class CatalogVersionView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 2}]}, frozen=True)

    version: int = Field(description="The version the catalog was stored as; charging uses the newest.")


class CatalogView(CatalogVersionView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 1,
                    "document": {
                        "item_classes": [
                            {
                                "name": "voice_call",
                                "description": "",
                                "quantity": "duration",
                                "properties": [
                                    {
                                        "name": "duration",
                                        "type": "decimal",
                                        "required": True,
                                        "default": None,
                                        "allowed": None,
                                        "unit": "seconds",
                                    },
                                    {
                                        "name": "destination",
                                        "type": "string",
                                        "required": True,
                                        "default": None,
                                        "allowed": None,
                                        "unit": None,
                                    },
                                ],
                            },
                            {
                                "name": "sms",
                                "description": "",
                                "quantity": None,
                                "properties": [
                                    {
                                        "name": "destination",
                                        "type": "string",
                                        "required": True,
                                        "default": None,
                                        "allowed": None,
                                        "unit": None,
                                    }
                                ],
                            },
                        ],
                        "charge_plans": [
                            {
                                "name": "mobile",
                                "version": 1,
                                "effective_from": None,
                                "currency": "EUR",
                                "description": "",
                                "counters": [
                                    {
                                        "name": "free_seconds",
                                        "scope": "contract_item",
                                        "namespace": None,
                                        "unit": "seconds",
                                        "initial": "60",
                                        "description": "",
                                        "thresholds": [],
                                        "reset": "none",
                                        "anchor_day": None,
                                        "time_zone": "UTC",
                                    }
                                ],
                                "charges": [
                                    {
                                        "name": "voice",
                                        "item_class": "voice_call",
                                        "account_role": "payer",
                                        "price": {
                                            "type": "allowance",
                                            "counter": "free_seconds",
                                            "then": {
                                                "type": "prefix",
                                                "property": "destination",
                                                "prefixes": {
                                                    "33": {
                                                        "type": "rate",
                                                        "amount": "0.60",
                                                        "unit": "minutes",
                                                        "per": "1",
                                                        "per_property": None,
                                                        "increment": "1",
                                                        "minimum": "0",
                                                    },
                                                    "44": {
                                                        "type": "rate",
                                                        "amount": "0.02",
                                                        "unit": "seconds",
                                                        "per": "1",
                                                        "per_property": None,
                                                        "increment": None,
                                                        "minimum": "0",
                                                    },
                                                    "999": {"type": "no_access", "message": "premium numbers are barred"},
                                                },
                                                "default": None,
                                            },
                                        },
                                        "rounding": {"decimals": 2, "mode": "half_up"},
                                        "output": "both",
                                        "counter_updates": [],
                                    },
                                    {
                                        "name": "sms",
                                        "item_class": "sms",
                                        "account_role": "payer",
                                        "price": {"type": "flat", "amount": "0.10"},
                                        "rounding": {"decimals": 2, "mode": "half_up"},
                                        "output": "billable",
                                        "counter_updates": [],
                                    },
                                ],
                                "fees": [],
                            }
                        ],
                        "calendars": [],
                        "refill_plans": [],
                        "currencies": [],
                    },
                }
            ]
        }
    )

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


class CatalogVersionsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "versions": [
                        {"version": 1, "loaded_at": "2026-06-01T12:00:00Z", "source": "request"},
                        {"version": 2, "loaded_at": "2026-06-01T12:00:00Z", "source": "request"},
                    ],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    versions: list[CatalogVersionSummary] = Field(description="Oldest first.")
    next_after_id: int | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_catalog_versions(context: Context, after_id: AfterIdQuery = 0, limit: PageSizeQuery = 100) -> CatalogVersionsPage:
    """Every stored catalog version, oldest first: when it was loaded and from what."""
    found, after = page(
        lambda cursor, size: context.engine.catalog_versions(after_id=cursor, limit=size), after_id, limit, lambda row: row.version
    )
    return CatalogVersionsPage(versions=found, next_after_id=after)


def read_catalog_version(version: RecordIdPath, context: Context) -> CatalogView:
    """A catalog version as it was stored."""
    found = context.engine.catalog_version(version)
    return CatalogView(version=found.version, document=found.catalog.model_dump(mode="json", by_alias=True))


def diff_catalog_versions(
    context: Context,
    from_version: Annotated[int, Query(ge=1, le=limits.STORED_ID_MAX, description="The version to compare from.")],
    to_version: Annotated[
        int | None, Query(ge=1, le=limits.STORED_ID_MAX, description="The version to compare to; absent: the newest.")
    ] = None,
) -> CatalogDiff:
    """What changed from one catalog version to another: each difference with its path into the catalog, the value before
    and after. Named things (item classes, charge plans by name and version, charges, counters) are matched by name."""
    return context.engine.catalog_diff(from_version, to_version)


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
        "/versions",
        list_catalog_versions,
        methods=["GET"],
        response_model=CatalogVersionsPage,
        summary="List catalog versions",
        responses=error_responses(422),
    )
    routes.add_api_route(
        "/versions/{version}",
        read_catalog_version,
        methods=["GET"],
        response_model=CatalogView,
        summary="Read a catalog version",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/diff",
        diff_catalog_versions,
        methods=["GET"],
        response_model=CatalogDiff,
        summary="Compare two catalog versions",
        responses=error_responses(404, 422),
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

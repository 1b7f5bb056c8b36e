"""``/v1/authorizations``: offline requests that only reserve an item's amount, then captured or released by their
reservation id (docs/authorizations.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.routes_charging import ChargeableItemInput, IdempotencyKey, IdempotencyKeyHeader, QuantityValue, chosen_idempotency_key
from kopek.charging.authorization_views import AuthorizationResult, AuthorizationView, Authorize, Capture
from kopek.charging.session_views import Resolution

Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]

_KEY = "Makes retries safe: a retry with the same key answers the first result; also accepted as the Idempotency-Key header."

DESCRIPTION = """
Authorize one chargeable item: every check of an offline charge is made (item class,
properties, access, contract chargeable, payer accounts chargeable and able to cover the
amount after the live reservations), then its amount is **reserved** against the payer
accounts instead of charged: a pending debit that every later charge and grant sees,
holding the free units it would use too. Nothing is charged until it is captured.

Capture it (`POST /v1/authorizations/{reservation_id}:capture`, optionally with a final
`quantity`), release it (`:release`), or let it expire: at `expires_at` the session
clean-up resolves it with its `default_resolution` (`cancelled`, the default, releases;
`confirmed` captures the item as authorized).

**Idempotency.** `reservation_id` names it (one is made when left out); a retry with the
same `idempotency_key` answers the first result with status 200 (`replayed: true`).
"""

CAPTURE = """
Charge the authorized item exactly as an offline charge would, with `quantity` as its
final quantity when given, release the reservation and end the authorization. The
reservation is released first: an amount up to it always fits; more is charged only
within the account's floor or credit limit, else refused (`ILLEGAL_STATE`,
`prepaid_balance_cannot_cover`) and the authorization stays reserved. A resolved
authorization is refused (`ILLEGAL_STATE`, `authorization_already_resolved`); a retry
with the first call's idempotency key answers its result.
"""


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class AuthorizeRequest(_Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reservation_id": "order-0001",
                    "item": {
                        "item_class": "voice_call",
                        "consumption_date": "2026-06-01T10:00:00+00:00",
                        "service_id": "mobile",
                        "user_id": "alice-msisdn",
                        "properties": {"duration": "300", "destination": "33123"},
                    },
                    "ttl_ms": 600000,
                    "default_resolution": "cancelled",
                    "idempotency_key": "authorize-0001",
                }
            ]
        }
    )

    reservation_id: Identifier | None = Field(default=None, description="The authorization's id; one is made when left out.")
    item: ChargeableItemInput = Field(description="The chargeable item whose amount is reserved.")
    ttl_ms: int = Field(description="How long the reservation is held before the clean-up resolves it, in milliseconds.")
    default_resolution: Resolution = Field(
        default=Resolution.CANCELLED, description="At expiry: cancelled releases it, confirmed captures the item as authorized."
    )
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class CaptureRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": "200", "idempotency_key": "capture-0001"}]})

    quantity: QuantityValue | None = Field(
        default=None, description="The final quantity to charge, in the item class's quantity unit; none: the authorized one."
    )
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class ReleaseRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"idempotency_key": "release-0001"}]})

    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


def create_authorization(
    body: AuthorizeRequest, context: Context, actor: Actor, idempotency_key: IdempotencyKeyHeader = None
) -> JSONResponse:
    key = chosen_idempotency_key(body.idempotency_key, idempotency_key)
    command = Authorize(body.item.chargeable_item(), body.ttl_ms, body.reservation_id, body.default_resolution, key)
    result = context.engine.authorize(command, actor=actor)
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if result.replayed else 201)


def capture_authorization(
    reservation_id: IdentifierPath,
    context: Context,
    actor: Actor,
    body: CaptureRequest | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> AuthorizationResult:
    key = chosen_idempotency_key(body.idempotency_key if body is not None else None, idempotency_key)
    quantity = body.quantity if body is not None else None
    return context.engine.capture_authorization(Capture(reservation_id, quantity, key), actor=actor)


def release_authorization(
    reservation_id: IdentifierPath,
    context: Context,
    actor: Actor,
    body: ReleaseRequest | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> AuthorizationResult:
    """Release the reservation without charging anything, and end the authorization."""
    key = chosen_idempotency_key(body.idempotency_key if body is not None else None, idempotency_key)
    return context.engine.release_authorization(reservation_id, idempotency_key=key, actor=actor)


def read_authorization(reservation_id: IdentifierPath, context: Context) -> AuthorizationView:
    """An authorization: what it reserved, its status, and what its capture charged."""
    return context.engine.authorization(reservation_id)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/authorizations", tags=["authorizations"], route_class=ExactJsonRoute)
    errors = error_responses(404, 409, 422, 503)
    routes.add_api_route(
        "", create_authorization, methods=["POST"], status_code=201, response_model=AuthorizationResult,
        summary="Reserve the amount of an item (authorization only)", description=DESCRIPTION,
        responses={200: {"model": AuthorizationResult, "description": "An idempotent replay: the first result."}, **errors},
    )  # fmt: skip
    routes.add_api_route(
        "/{reservation_id}", read_authorization, methods=["GET"], response_model=AuthorizationView,
        summary="Read an authorization", responses=error_responses(404, 422),
    )  # fmt: skip
    routes.add_api_route(
        "/{reservation_id}:capture", capture_authorization, methods=["POST"], response_model=AuthorizationResult,
        summary="Capture an authorization: charge the item", description=CAPTURE, responses=errors,
    )  # fmt: skip
    routes.add_api_route(
        "/{reservation_id}:release", release_authorization, methods=["POST"], response_model=AuthorizationResult,
        summary="Release an authorization without charging", responses=errors,
    )  # fmt: skip
    return routes

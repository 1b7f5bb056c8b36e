"""``/v1/sessions``: online charging sessions (start, update, stop, cancel, read, clean-up) and their management.

Also ``/v1/subscriber-accounts/{id}/sessions`` (the live sessions of a subscriber
account) and ``/v1/reservations/{id}/stop`` (end a multiservice session). See docs/sessions.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierPath, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.routes_charging import (
    ConsumptionDate,
    IdempotencyKey,
    IdempotencyKeyHeader,
    Identifier,
    PropertyValue,
    chosen_idempotency_key,
)
from kopek.charging.session_views import (
    CleanupReport,
    Resolution,
    SessionResult,
    SessionView,
    StartSession,
    StopSession,
    UpdateSession,
)

SESSIONS_PAGE_SIZE_DEFAULT = 100
_KEY = (
    "Makes retries safe: a retry with the same key answers the first result (replayed) and charges nothing more; "
    "also accepted as the Idempotency-Key header."
)
_USAGE_DATE = (
    "When the usage reported began (ISO 8601 with an offset, not before the session's start); absent: the session's start, "
    "moved on by the time already used for timed usage."
)


_REPLAYED_START = "A retry with the idempotency key of a start: its first result (replayed); nothing more was reserved."


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReservationItemInput(_Request):
    item_class: Identifier = Field(description="A chargeable item class of the catalog that has a quantity, e.g. voice_call.")
    properties: dict[str, PropertyValue] = Field(default_factory=dict, description="The other properties; the quantity is set by kopek.")


class StartSessionRequest(_Request):
    session_id: Identifier = Field(description="The network element's id of the session; unique.")
    reservation_id: Identifier | None = Field(
        default=None, description="Shared by the sessions of one multiservice session; default: session_id."
    )
    service_id: Identifier
    user_id: Identifier
    consumption_date: ConsumptionDate
    ttl_ms: int = Field(
        description=f"How long a grant stays reserved without news, {limits.SESSION_TTL_MS_MIN} to {limits.SESSION_TTL_MS_MAX} ms."
    )
    quantity_property: Identifier = Field(description="The property to invert; must be the item class's quantity.")
    requested_quantity: PropertyValue | None = Field(
        default=None, description="In the quantity's unit; absent: as much as the money allows."
    )
    default_resolution: Resolution = Field(default=Resolution.CONFIRMED, description="What the expiry clean-up does.")
    item: ReservationItemInput
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)

    def command(self, header_key: str | None = None) -> StartSession:
        return StartSession(
            session_id=self.session_id,
            item_class=self.item.item_class,
            service_id=self.service_id,
            user_id=self.user_id,
            consumption_date=self.consumption_date,
            ttl_ms=self.ttl_ms,
            quantity_property=self.quantity_property,
            properties=dict(self.item.properties),
            requested_quantity=self.requested_quantity,
            default_resolution=self.default_resolution,
            reservation_id=self.reservation_id,
            idempotency_key=chosen_idempotency_key(self.idempotency_key, header_key),
        )


class UpdateSessionRequest(_Request):
    used_quantity: PropertyValue = Field(description="Usage since the last grant, in the quantity's unit.")
    requested_quantity: PropertyValue | None = Field(
        default=None, description="The next grant wanted; absent: as much as the money allows."
    )
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)
    consumption_date: ConsumptionDate | None = Field(default=None, description=_USAGE_DATE)


class StopSessionRequest(_Request):
    used_quantity: PropertyValue = Field(default="0", description="Final usage since the last grant.")
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)
    consumption_date: ConsumptionDate | None = Field(default=None, description=_USAGE_DATE)


class CancelSessionRequest(_Request):
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class StopReservationRequest(_Request):
    used: dict[str, PropertyValue] = Field(default_factory=dict, description="Final usage by session id; a session not named used none.")
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class SessionsPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    sessions: list[SessionView] = Field(description="Oldest first.")


def start_session(body: StartSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None) -> JSONResponse:
    """Open a session: grant min(requested, maximum affordable) on the increment grid and reserve its price.

    A retry with the idempotency key of a start answers its first result with 200, as a replayed charge does."""
    result = context.engine.start_session(body.command(idempotency_key))
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if result.replayed else 201)


def update_session(
    session_id: IdentifierPath, body: UpdateSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None
) -> SessionResult:
    """Charge the usage since the last grant as offline charging would, release the previous reservation, reserve the next grant."""
    key = chosen_idempotency_key(body.idempotency_key, idempotency_key)
    command = UpdateSession(
        session_id, body.used_quantity, body.requested_quantity, idempotency_key=key, consumption_date=body.consumption_date
    )
    return context.engine.update_session(command)


def stop_session(
    session_id: IdentifierPath, body: StopSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None
) -> SessionResult:
    """Charge the final usage, release what is left, end the session."""
    key = chosen_idempotency_key(body.idempotency_key, idempotency_key)
    return context.engine.stop_session(
        StopSession(session_id, body.used_quantity, idempotency_key=key, consumption_date=body.consumption_date)
    )


def cancel_session(
    session_id: IdentifierPath, context: Context, body: CancelSessionRequest | None = None, idempotency_key: IdempotencyKeyHeader = None
) -> SessionResult:
    """Release the reservation without charging; end the session."""
    key = chosen_idempotency_key(body.idempotency_key if body is not None else None, idempotency_key)
    return context.engine.cancel_session(session_id, idempotency_key=key)


def read_session(session_id: IdentifierPath, context: Context) -> SessionView:
    """A session with its grant, reservations and impacts (live or ended)."""
    return context.engine.session(session_id)


def cleanup_session(session_id: IdentifierPath, context: Context) -> SessionResult:
    """Force the clean-up of one live session: end it now with its default resolution."""
    return context.engine.cleanup_session(session_id)


def cleanup_expired_sessions(context: Context, actor: Actor) -> CleanupReport:
    """One expiry pass: end every live session past its expiry with its default resolution. Audited."""
    return context.engine.cleanup_expired_sessions(actor=actor)


def list_live_sessions(
    subscriber_account_id: IdentifierPath,
    context: Context,
    limit: PageSizeQuery = SESSIONS_PAGE_SIZE_DEFAULT,
) -> SessionsPage:
    """The live sessions of a subscriber account."""
    return SessionsPage(sessions=context.engine.live_sessions(subscriber_account_id, limit=limit))


def stop_reservation(
    reservation_id: IdentifierPath, body: StopReservationRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None
) -> list[SessionResult]:
    """End a multiservice session: stop every live session sharing this reservation id, in one commit."""
    used: dict[str, Any] = dict(body.used)
    key = chosen_idempotency_key(body.idempotency_key, idempotency_key)
    return context.engine.stop_reservation(reservation_id, used, idempotency_key=key)


def router() -> APIRouter:
    routes = APIRouter(tags=["sessions"], route_class=ExactJsonRoute)
    session_errors = error_responses(404, 409, 422, 503)
    routes.add_api_route(
        "/v1/sessions", start_session, methods=["POST"], status_code=201, response_model=SessionResult,
        summary="Start a charging session",
        responses={200: {"model": SessionResult, "description": _REPLAYED_START}, **session_errors},
    )  # fmt: skip
    routes.add_api_route(
        "/v1/sessions:cleanup", cleanup_expired_sessions, methods=["POST"], response_model=CleanupReport,
        summary="Clean up expired sessions", responses=error_responses(503),
    )  # fmt: skip
    routes.add_api_route(
        "/v1/sessions/{session_id}", read_session, methods=["GET"], response_model=SessionView,
        summary="Read a charging session", responses=error_responses(404, 422),
    )  # fmt: skip
    for path, endpoint, summary in (
        ("updates", update_session, "Update a charging session"),
        ("stop", stop_session, "Stop a charging session"),
        ("cancel", cancel_session, "Cancel a charging session"),
        ("cleanup", cleanup_session, "Force the clean-up of a charging session"),
    ):
        routes.add_api_route(
            f"/v1/sessions/{{session_id}}/{path}", endpoint, methods=["POST"], response_model=SessionResult,
            summary=summary, responses=session_errors,
        )  # fmt: skip
    routes.add_api_route(
        "/v1/subscriber-accounts/{subscriber_account_id}/sessions", list_live_sessions, methods=["GET"],
        response_model=SessionsPage, summary="List the live sessions of a subscriber account", tags=["sessions"],
        responses=error_responses(404, 422),
    )  # fmt: skip
    routes.add_api_route(
        "/v1/reservations/{reservation_id}/stop", stop_reservation, methods=["POST"], response_model=list[SessionResult],
        summary="Stop a multiservice session", responses=session_errors,
    )  # fmt: skip
    return routes

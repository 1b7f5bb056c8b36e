"""``/v1/sessions``: online charging sessions (start, update, stop, cancel, read, clean-up) and their management.

Also ``/v1/subscriber-accounts/{id}/sessions`` (the live sessions of a subscriber
account) and ``/v1/reservations/{id}/stop`` (end a multiservice session). See docs/sessions.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import AfterKeyQuery, ApiContext, Context, IdentifierPath, PageSizeQuery, filter_query
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.hot_routes import HotEndpoint
from kopek.api.routes_charging import (
    ConsumptionDate,
    IdempotencyKey,
    IdempotencyKeyHeader,
    Identifier,
    PropertyValue,
    QuantityValue,
    chosen_idempotency_key,
)
from kopek.charging.session_views import (
    CleanupReport,
    Resolution,
    SessionResult,
    SessionStatus,
    SessionView,
    StartSession,
    StopSession,
    UpdateSession,
)
from kopek.paging import page
from kopek.schema_examples import example_of

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"item_class": "voice_call", "properties": {"destination": "33123"}}]})

    item_class: Identifier = Field(description="A chargeable item class of the catalog that has a quantity, e.g. voice_call.")
    properties: dict[str, PropertyValue] = Field(default_factory=dict, description="The other properties; the quantity is set by kopek.")


class StartSessionRequest(_Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "data-7",
                    "service_id": "mobile",
                    "user_id": "alice-msisdn",
                    "consumption_date": "2026-06-01T10:00:00+00:00",
                    "ttl_ms": 60000,
                    "quantity_property": "duration",
                    "requested_quantity": "60",
                    "default_resolution": "confirmed",
                    "item": {"item_class": "voice_call", "properties": {"destination": "33123"}},
                    "idempotency_key": None,
                    "reservation_id": "pdu-7",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    session_id: Identifier = Field(description="The network element's id of the session; unique.")
    reservation_id: Identifier | None = Field(
        default=None, description="Shared by the sessions of one multiservice session; default: session_id."
    )
    service_id: Identifier
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: Identifier
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    consumption_date: ConsumptionDate
    """When the session starts (ISO 8601 with an offset)."""
    ttl_ms: int = Field(
        description=f"How long a grant stays reserved without news, {limits.SESSION_TTL_MS_MIN} to {limits.SESSION_TTL_MS_MAX} ms."
    )
    quantity_property: Identifier = Field(description="The property to invert; must be the item class's quantity.")
    requested_quantity: QuantityValue | None = Field(
        default=None, description="In the quantity's unit; absent: as much as the money allows."
    )
    default_resolution: Resolution = Field(default=Resolution.CONFIRMED, description="What the expiry clean-up does.")
    item: ReservationItemInput
    """The reservation item: the item class and its other properties."""
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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"used_quantity": "120", "requested_quantity": "300", "idempotency_key": "update-42-1"}]}
    )

    used_quantity: QuantityValue = Field(description="Usage since the last grant, in the quantity's unit.")
    requested_quantity: QuantityValue | None = Field(
        default=None, description="The next grant wanted; absent: as much as the money allows."
    )
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)
    consumption_date: ConsumptionDate | None = Field(default=None, description=_USAGE_DATE)


class StopSessionRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"used_quantity": "90", "idempotency_key": "stop-42"}]})

    used_quantity: QuantityValue = Field(default="0", description="Final usage since the last grant, in the quantity's unit.")
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)
    consumption_date: ConsumptionDate | None = Field(default=None, description=_USAGE_DATE)


class CancelSessionRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"idempotency_key": "cancel-43"}]})

    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class StopReservationRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"used": {"data-7": "30"}, "idempotency_key": "stop-pdu-7"}]})

    used: dict[str, QuantityValue] = Field(default_factory=dict, description="Final usage by session id; a session not named used none.")
    idempotency_key: IdempotencyKey | None = Field(default=None, description=_KEY)


class SessionsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"sessions": [example_of(SessionView)]}]},
        frozen=True,
    )

    sessions: list[SessionView] = Field(description="Oldest first.")


class SessionListPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessions": [example_of(SessionView)],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    sessions: list[SessionView] = Field(description="In id order.")
    next_after_id: str | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_sessions(
    context: Context,
    status: Annotated[SessionStatus | None, Query(description="Only sessions in this status (active: the live ones).")] = None,
    subscriber_account_id: Annotated[str | None, filter_query("Only the sessions of this subscriber account.")] = None,
    contract_id: Annotated[str | None, filter_query("Only the sessions of this contract.")] = None,
    reservation_id: Annotated[str | None, filter_query("Only the sessions of this multiservice reservation.")] = None,
    after_id: AfterKeyQuery = "",
    limit: PageSizeQuery = SESSIONS_PAGE_SIZE_DEFAULT,
) -> SessionListPage:
    """Charging sessions, live or ended (until the clean-up removes them after their retention), in id order; filters combine."""
    found, after = page(
        lambda cursor, size: context.engine.sessions(
            status=status,
            subscriber_account_id=subscriber_account_id,
            contract_id=contract_id,
            reservation_id=reservation_id,
            after_id=cursor,
            limit=size,
        ),
        after_id,
        limit,
        lambda view: view.session_id,
    )
    return SessionListPage(sessions=found, next_after_id=after)


async def start_session(body: StartSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """Open a session: grant min(requested, maximum affordable) on the increment grid and reserve its price.

    A retry with the idempotency key of a start answers its first result with 200, as a replayed charge does."""
    return await context.blocking.run(answer_start, context, body, None, idempotency_key)


async def update_session(
    session_id: IdentifierPath, body: UpdateSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Charge the usage since the last grant as offline charging would, release the previous reservation, reserve the next grant."""
    return await context.blocking.run(answer_update, context, body, session_id, idempotency_key)


async def stop_session(
    session_id: IdentifierPath, body: StopSessionRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Charge the final usage, release what is left, end the session."""
    return await context.blocking.run(answer_stop, context, body, session_id, idempotency_key)


async def cancel_session(
    session_id: IdentifierPath, context: Context, body: CancelSessionRequest | None = None, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Release the reservation without charging; end the session."""
    return await context.blocking.run(answer_cancel, context, body, session_id, idempotency_key)


# The blocking work of the steps (each a HotAnswer): the engine's call and the answer's text, on one of the app's threads.


def _answered(result: SessionResult, *, created: bool = False) -> Response:
    status = 201 if created and not result.replayed else 200
    return Response(result.model_dump_json(), status_code=status, media_type="application/json")


def answer_start(context: ApiContext, body: StartSessionRequest, _no_path_parameter: str | None, header_key: str | None) -> Response:
    return _answered(context.engine.start_session(body.command(header_key)), created=True)


def answer_update(context: ApiContext, body: UpdateSessionRequest, session_id: str | None, header_key: str | None) -> Response:
    assert session_id is not None
    key = chosen_idempotency_key(body.idempotency_key, header_key)
    command = UpdateSession(
        session_id, body.used_quantity, body.requested_quantity, idempotency_key=key, consumption_date=body.consumption_date
    )
    return _answered(context.engine.update_session(command))


def answer_stop(context: ApiContext, body: StopSessionRequest, session_id: str | None, header_key: str | None) -> Response:
    assert session_id is not None
    key = chosen_idempotency_key(body.idempotency_key, header_key)
    command = StopSession(session_id, body.used_quantity, idempotency_key=key, consumption_date=body.consumption_date)
    return _answered(context.engine.stop_session(command))


def answer_cancel(context: ApiContext, body: CancelSessionRequest | None, session_id: str | None, header_key: str | None) -> Response:
    assert session_id is not None
    key = chosen_idempotency_key(body.idempotency_key if body is not None else None, header_key)
    return _answered(context.engine.cancel_session(session_id, idempotency_key=key))


def hot_endpoints() -> tuple[HotEndpoint, ...]:
    """The steps of a session, answered by :class:`~kopek.api.hot_routes.HotRoutes` when the request is plainly well-formed."""
    return (
        HotEndpoint("start_session", StartSessionRequest, answer_start),
        HotEndpoint("update_session", UpdateSessionRequest, answer_update),
        HotEndpoint("stop_session", StopSessionRequest, answer_stop),
        HotEndpoint("cancel_session", CancelSessionRequest, answer_cancel, body_required=False),
    )


def read_session(session_id: IdentifierPath, context: Context) -> SessionView:
    """A session with its grant, reservations and impacts (live or ended)."""
    return context.engine.session(session_id)


def cleanup_session(session_id: IdentifierPath, context: Context) -> SessionResult:
    """Force the clean-up of one live session: end it now with its default resolution."""
    return context.engine.cleanup_session(session_id)


def cleanup_expired_sessions(context: Context, actor: Actor) -> CleanupReport:
    """One clean-up pass: end every live session past its expiry with its default resolution, then remove the sessions
    that ended longer ago than the server's retention (``kopek serve --session-retention-seconds``). Audited."""
    report = context.engine.cleanup_expired_sessions(actor=actor, retention_seconds=context.session_retention_seconds)
    context.metrics.observe_cleanup(expired=len(report.resolved), removed=report.removed)
    return report


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
        "/v1/sessions", list_sessions, methods=["GET"], response_model=SessionListPage,
        summary="List charging sessions", responses=error_responses(422),
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

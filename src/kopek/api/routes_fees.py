"""``/v1/fees:run`` (charge every due fee period up to a date) and a contract's activations."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from kopek.admin.master_data import AwareDatetime
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.charging.fees import ActivationView, FeeRunReport
from kopek.domain.validation import Flag

DESCRIPTION = """
Charge every period of every recurring and one-off fee that starts at or before
`until` (at most now) and is not charged yet: each exactly once, whether the run is
repeated or several run at the same time. Each contract is charged in its own
transaction; one contract's failure (reported with its error) does not stop the
others. Migrating or locked contracts are skipped, with the reason. A fee its prepaid
payer cannot cover suspends the contract item's activation, or goes below the floor,
as the fee's `on_insufficient_balance` says. See docs/catalog.md (Fees).
"""


class FeeRunRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"until": "2026-06-01T12:00:00+00:00", "notifications": True}]}, frozen=True, extra="forbid"
    )

    until: AwareDatetime = Field(description="Charge the periods starting at or before this instant (ISO 8601 with an offset).")
    notifications: Flag = Field(default=False, description="List each contract's fee_applied notifications in the report.")


def run_fees(request: FeeRunRequest, context: Context, actor: Actor) -> FeeRunReport:
    return context.engine.run_fees(request.until, notifications=request.notifications, actor=actor)


def read_activations(contract_id: IdentifierPath, context: Context) -> list[ActivationView]:
    """The charge activations of a contract: status (active, suspended, expired) and last activation date."""
    return context.engine.activations(contract_id)


def router() -> APIRouter:
    routes = APIRouter(tags=["fees and refills"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "/v1/fees:run",
        run_fees,
        methods=["POST"],
        response_model=FeeRunReport,
        summary="Charge the due fees",
        description=DESCRIPTION,
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/v1/contracts/{contract_id}/activations",
        read_activations,
        methods=["GET"],
        response_model=list[ActivationView],
        summary="Read a contract's activations",
        responses=error_responses(404, 422),
    )
    return routes

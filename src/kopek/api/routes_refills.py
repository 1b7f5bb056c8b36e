"""``/v1/refills``: credit a prepaid balance by a refill plan; the refill id makes retries safe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.charging.refills import RefillCommand, RefillResult
from kopek.domain.catalog import Dec

Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]

DESCRIPTION = """
Credit the prepaid account that the refill plan's account role names in the contract
with `amount` (a string, read exactly; may be left out when the plan credits a fixed
amount), add the plan's bonus units to its counter with their expiry, and raise a
`refill_applied` notification; all or nothing.

**Idempotency.** `refill_id` is the client's id of the refill: a retry with the same
id and body answers the first result with status 200 (`replayed: true`) and credits
nothing more; the same id with another body is refused (`ALREADY_EXISTS`,
`refill_id_reused_with_different_request`).

**Refusals** change nothing: a closed subscriber account or account (`ILLEGAL_STATE` /
`ACCOUNT_CLOSED`), an amount outside the plan's bounds (`INVALID`), a currency other
than the account's (`INVALID_CONFIGURATION`), a migrating contract
(`TEMPORARY_ILLEGAL_STATE`). See docs/catalog.md (Refill plans).
"""


class RefillRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refill_id": "topup-0001", "contract_id": "ann-contract", "refill_plan": "topup", "amount": "20.00"}]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    refill_id: Identifier = Field(description="The client's id of this refill; a retry sends the same.")
    contract_id: Identifier
    """The contract whose prepaid account is credited."""
    refill_plan: Identifier
    """A refill plan of the catalog."""
    amount: Annotated[Dec, Field(max_digits=limits.DECIMAL_DIGITS_MAX)] | None = Field(
        default=None, description="The amount to credit, in the plan's currency; none: the plan's fixed amount."
    )


def create_refill(request: RefillRequest, context: Context, actor: Actor) -> JSONResponse:
    command = RefillCommand(request.refill_id, request.contract_id, request.refill_plan, request.amount)
    result = context.engine.refill(command, actor=actor)
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if result.replayed else 201)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/refills", tags=["fees and refills"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        create_refill,
        methods=["POST"],
        status_code=201,
        response_model=RefillResult,
        summary="Refill a prepaid balance",
        description=DESCRIPTION,
        responses={
            200: {"model": RefillResult, "description": "A retry: the first result; nothing more was credited."},
            **error_responses(404, 409, 422, 503),
        },
    )
    return routes

"""``/v1/contract-states`` and ``/v1/migration``: export and restore contract states, the migration lock.

Contract states travel as JSON lines (``application/x-ndjson``), one state per line;
see docs/migration.md and docs/contract-state.schema.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.domain.validation import Flag
from kopek.errors import Code, InvalidError
from kopek.migration.lock import MigrationLockResult
from kopek.migration.restore import RestoreMode, RestoreReport
from kopek.migration.state import ContractState

JSON_LINES = "application/x-ndjson"
LINES_PER_CHUNK = 100

ContractIds = Annotated[
    list[str] | None,
    Query(
        alias="contract_id",
        description=f"A contract to export; repeat for several (at most {limits.CONTRACT_STATES_SELECTED_MAX}). None: every contract.",
    ),
]


class MigrationLockRequest(BaseModel):
    """Which contracts: ``contract_ids``, or ``all``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"contract_ids": ["bob-contract"]}]}, use_attribute_docstrings=True, frozen=True, extra="forbid"
    )

    contract_ids: list[Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]] | None = Field(
        default=None, max_length=limits.CONTRACT_STATES_SELECTED_MAX
    )
    """The contracts; or give all: true."""
    all: Flag = Field(default=False, description="Every contract.")

    @model_validator(mode="after")
    def _one_choice(self) -> MigrationLockRequest:
        if (self.contract_ids is not None) == self.all:
            raise ValueError("give either contract_ids or all: true")
        return self


def export_contract_states(context: Context, contract_ids: ContractIds = None) -> StreamingResponse:
    """The states of all or the named contracts as JSON lines, at one point in time, streamed page by page."""
    states = context.engine.export_contract_states(contract_ids)
    return StreamingResponse(_chunks(states), media_type=JSON_LINES)


def _chunks(states: Iterator[ContractState]) -> Iterator[str]:
    lines: list[str] = []
    for state in states:
        lines.append(state.line() + "\n")
        if len(lines) == LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


RestoreModeQuery = Annotated[
    RestoreMode, Query(description="ALL_OR_NOTHING: the whole body commits or nothing does; BEST_EFFORT: each valid state commits.")
]


async def restore_contract_states(request: Request, context: Context, mode: RestoreModeQuery, actor: Actor) -> RestoreReport:
    """Restore the contract states of the body (JSON lines) onto ``migrating`` contracts.

    ``ALL_OR_NOTHING`` commits the whole body or nothing; ``BEST_EFFORT`` commits each
    valid state. Either way the report lists the failures (line, contract, error).
    Not a counter reset nor a refill: no account operation, no charged item.
    """
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidError(code=Code.REQUEST_MALFORMED, message="the request body is not UTF-8 text") from error
    return await run_in_threadpool(context.engine.restore_contract_states, text.splitlines(), mode, actor=actor)


def begin_migration(request: MigrationLockRequest, context: Context, actor: Actor) -> MigrationLockResult:
    """Mark contracts ``migrating``: charging them answers TEMPORARY_ILLEGAL_STATE until the migration ends."""
    return context.engine.begin_migration(request.contract_ids, actor=actor)


def end_migration(request: MigrationLockRequest, context: Context, actor: Actor) -> MigrationLockResult:
    """Mark migrating contracts ``active`` again."""
    return context.engine.end_migration(request.contract_ids, actor=actor)


def router() -> APIRouter:
    routes = APIRouter(tags=["migration"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "/v1/contract-states",
        export_contract_states,
        methods=["GET"],
        response_class=StreamingResponse,
        summary="Export contract states (JSON lines)",
        responses={
            200: {
                "content": {JSON_LINES: {"schema": {"type": "string"}}},
                "description": "One contract state per line (docs/contract-state.schema.json).",
            },
            **error_responses(404, 422),
        },
    )
    routes.add_api_route(
        "/v1/contract-states:restore",
        restore_contract_states,
        methods=["POST"],
        response_model=RestoreReport,
        summary="Restore contract states (JSON lines)",
        openapi_extra={"requestBody": {"required": True, "content": {JSON_LINES: {"schema": {"type": "string"}}}}},
        responses=error_responses(404, 422),
    )
    for path, endpoint, summary in (
        ("/v1/migration:begin", begin_migration, "Begin the migration lock"),
        ("/v1/migration:end", end_migration, "End the migration lock"),
    ):
        routes.add_api_route(
            path, endpoint, methods=["POST"], response_model=MigrationLockResult, summary=summary, responses=error_responses(404, 409, 422)
        )
    return routes

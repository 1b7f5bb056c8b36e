"""``/v1/recharges`` and ``/v1/recharge-jobs``: charge a contract's usage since a restoration point again (one contract
at once, or many in a background job), and read a contract's restoration point (docs/recharging.md)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kopek import limits
from kopek.api.auth import Actor
from kopek.api.context import Context, IdentifierPath
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.engine import Engine
from kopek.recharging.jobs import RechargeJobFilters, RechargeJobStatus
from kopek.recharging.views import RechargeResult, RestorationPointView

_log = logging.getLogger(__name__)

Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]

DESCRIPTION = """
Lock the contract (charging it meanwhile answers `ILLEGAL_STATE`, reason `RECHARGING`),
rebuild its state as of `from_date` (its restoration point), charge again every item
consumed since (and every item consumed before but charged after the point, in its place)
in consumption order with catalog `catalog_version` (the newest when left out), and write
the differences: the charged items that change are marked superseded, a reversal row of
each and the new rows are written (they go to the next item files), and each account whose
balance changes gets one account operation of kind `recharge` naming the recharge. Then the
contract is unlocked. All or nothing: a refusal leaves everything as it was, unlocked.

**Refusals**: a date before the retention window or before the contract's counters were
last replaced (`restoration_point_out_of_reach`), counters shared with other contracts
(`recharge_of_counters_other_contracts_share`), live sessions whose grants hold the contract's counters or that
charged usage since the date (`contract_has_live_sessions`; a live session that only reserves money stays as it is),
a linked contract's charge of its counters since the date (`recharge_crosses_counter_changes_it_cannot_replay`; a
refill's bonus units are put again in their place),
a prepaid balance the new prices would take below its floor (`prepaid_balance_cannot_cover`).
"""


class RechargeRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"contract_id": "ann-line", "from_date": "2026-06-01T00:00:00Z", "catalog_version": 2}]},
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    contract_id: Identifier
    """The contract to recharge."""
    from_date: AwareDatetime
    """The restoration point: the items consumed from then on are charged again."""
    catalog_version: int | None = Field(default=None, ge=1, le=limits.STORED_ID_MAX, description="The catalog version; none: the newest.")


def create_recharge(request: RechargeRequest, context: Context, actor: Actor) -> RechargeResult:
    return context.engine.recharge(request.contract_id, request.from_date, catalog_version=request.catalog_version, actor=actor)


def read_restoration_point(
    contract_id: IdentifierPath,
    context: Context,
    at: Annotated[AwareDatetime, Query(description="The date of the restoration point, with its offset.")],
) -> RestorationPointView:
    """The contract's state as of ``at`` (the state before the first item consumed from then on changed it), in the form of
    a migration contract state, and what the items since did to each account's balance; changes nothing."""
    return context.engine.restoration_point(contract_id, at)


def start_recharge_job(filters: RechargeJobFilters, context: Context, actor: Actor) -> RechargeJobStatus:
    """Take the contracts ``filters`` choose (with items consumed since ``from_date``) for a new job and recharge them in the
    background, each exactly once. Answers at once with the job; read its status to follow it."""
    engine = context.engine
    job_id = engine.start_recharge_job(filters, actor=actor)
    context.job_threads.start(_run, engine, job_id, actor, name=f"kopek-{job_id}")
    return engine.recharge_job(job_id)


def _run(engine: Engine, job_id: str, actor: str) -> None:
    try:
        engine.run_recharge_job(job_id, actor=actor)
    except Exception:
        # The job is marked failed (its contracts not done stay for a resume); the thread has no caller to tell.
        _log.exception("recharging job %s stopped", job_id)


def read_recharge_job(job_id: IdentifierPath, context: Context) -> RechargeJobStatus:
    """A recharging job's state, its contracts recharged, refused and pending, its progress and compensations."""
    return context.engine.recharge_job(job_id)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["recharging"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "/recharges",
        create_recharge,
        methods=["POST"],
        status_code=201,
        response_model=RechargeResult,
        summary="Recharge a contract",
        description=DESCRIPTION,
        responses=error_responses(404, 409, 422, 503),
    )
    routes.add_api_route(
        "/contracts/{contract_id}/restoration-point",
        read_restoration_point,
        methods=["GET"],
        response_model=RestorationPointView,
        summary="Read a contract's restoration point",
        responses=error_responses(404, 409, 422),
    )
    routes.add_api_route(
        "/recharge-jobs",
        start_recharge_job,
        methods=["POST"],
        status_code=201,
        response_model=RechargeJobStatus,
        summary="Start a mass recharging job",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/recharge-jobs/{job_id}",
        read_recharge_job,
        methods=["GET"],
        response_model=RechargeJobStatus,
        summary="Read a mass recharging job's status",
        responses=error_responses(404, 422),
    )
    return routes

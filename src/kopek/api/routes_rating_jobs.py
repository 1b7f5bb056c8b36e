"""``/v1/rating-jobs``: start a rating job over stored CDRs (it runs in a background thread), read its status, cancel it."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from kopek.api.auth import Actor
from kopek.api.context import AfterKeyQuery, Context, IdentifierPath, PageSizeQuery
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.metrics import ApiMetrics
from kopek.batch.rating_jobs import JobFilters, JobState, JobStatus, RatingJobSummary, RatingMode
from kopek.engine import Engine
from kopek.paging import page
from kopek.schema_examples import example_of

_log = logging.getLogger(__name__)

PAGE_SIZE_DEFAULT = 100


class RatingJobRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "DAY_MOST",
                    "filters": {
                        "date_from": "2026-06-01T00:00:00+00:00",
                        "date_to": "2026-06-02T00:00:00+00:00",
                        "item_class": "voice_call",
                        "contract_id": ["bob-contract"],
                    },
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    mode: RatingMode = RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL
    """How CDRs are grouped and what a failure stops (docs/batch.md)."""
    filters: JobFilters = Field(default_factory=JobFilters)
    """Which pending CDRs the job takes; all when empty."""


def start_rating_job(request: RatingJobRequest, context: Context, actor: Actor) -> JobStatus:
    """Claim the pending CDRs (within ``filters``) for a new job and start charging them in the background.

    Answers at once with the job (state ``queued`` or already ``running``); read its status to follow it. Filters that
    can only be a mistake (an empty or inverted date range, an unknown item class or contract) are ``request_invalid``,
    each detail's ``location`` naming the field; without a loaded catalog, ``catalog_not_loaded``. Neither starts a job."""
    engine = context.engine
    job_id = engine.start_rating_job(request.mode, request.filters, actor=actor)
    context.job_threads.start(_run, engine, job_id, context.metrics, name=f"kopek-{job_id}")
    return engine.rating_job(job_id)


def _run(engine: Engine, job_id: str, metrics: ApiMetrics) -> None:
    try:
        status = engine.run_rating_job(job_id, tally=metrics.observe_rated_chunk)
    except Exception:
        # The job is marked failed (its pending CDRs stay pending); the thread has no caller to tell.
        _log.exception("rating job %s stopped", job_id)
        return
    outcomes = {"charged": status.charged, "failed": status.failed, "skipped": status.skipped}
    metrics.observe_rating_job(status.state.value, outcomes)


class RatingJobsPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rating_jobs": [example_of(RatingJobSummary)],
                    "next_after_id": None,
                }
            ]
        },
        frozen=True,
    )

    rating_jobs: list[RatingJobSummary] = Field(description="In id order, which is the order they were started in.")
    next_after_id: str | None = Field(description="Pass as after_id to read the next page; none when this page is the last.")


def list_rating_jobs(
    context: Context,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    after_id: AfterKeyQuery = "",
    limit: PageSizeQuery = PAGE_SIZE_DEFAULT,
) -> RatingJobsPage:
    """Rating jobs: mode, state, filters, who started them and when; read one for its counts and errors."""
    found, after = page(
        lambda cursor, size: context.engine.rating_jobs(state=state, after_id=cursor, limit=size), after_id, limit, lambda job: job.id
    )
    return RatingJobsPage(rating_jobs=found, next_after_id=after)


def read_rating_job(job_id: IdentifierPath, context: Context) -> JobStatus:
    """A job's state, counts (total, charged, failed, skipped, pending), progress, errors by category and code, timestamps."""
    return context.engine.rating_job(job_id)


def cancel_rating_job(job_id: IdentifierPath, context: Context, actor: Actor) -> JobStatus:
    """Cancel a job that has not finished: its workers stop at their next chunk; what was charged stays charged; its
    pending CDRs go back to the store (no job) for a later job. A finished job answers ``rating_job_already_finished``."""
    return context.engine.cancel_rating_job(job_id, actor=actor)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/rating-jobs", tags=["batch rating"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        start_rating_job,
        methods=["POST"],
        status_code=201,
        response_model=JobStatus,
        summary="Start a rating job",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "", list_rating_jobs, methods=["GET"], response_model=RatingJobsPage, summary="List rating jobs", responses=error_responses(422)
    )
    routes.add_api_route(
        "/{job_id}",
        read_rating_job,
        methods=["GET"],
        response_model=JobStatus,
        summary="Read a rating job's status",
        responses=error_responses(404, 422),
    )
    routes.add_api_route(
        "/{job_id}:cancel",
        cancel_rating_job,
        methods=["POST"],
        response_model=JobStatus,
        summary="Cancel a rating job",
        responses=error_responses(404, 409, 422),
    )
    return routes

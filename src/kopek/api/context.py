"""What every route needs, held per app (never in module globals), and shared parameter types."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from kopek import limits
from kopek.api.blocking import BlockingCalls
from kopek.api.job_threads import JobThreads
from kopek.api.metrics import ApiMetrics
from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT
from kopek.engine import Engine


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The engine an app serves, the metrics it keeps, the folder it writes item files to and whether it may serve open."""

    engine: Engine
    metrics: ApiMetrics
    item_files_directory: pathlib.Path = field(default_factory=lambda: pathlib.Path("item-files"))
    """Where ``POST /v1/item-files:export`` writes; set by the server, never by a request."""
    open_without_keys: bool = True
    """Whether the API answers everyone while no active API key exists (a loopback server, ``--no-auth``);
    false: it then refuses every request but ``/healthz`` and ``/metrics``."""
    session_retention_seconds: int = SESSION_RETENTION_SECONDS_DEFAULT
    """How long ended sessions are kept before a clean-up pass removes them (``kopek serve --session-retention-seconds``)."""
    job_threads: JobThreads = field(default_factory=JobThreads)
    """The threads of the rating jobs started over HTTP, waited for when the app stops."""
    blocking: BlockingCalls = field(default_factory=BlockingCalls)
    """The threads the hot routes (charging, session steps) hand their blocking work to."""


def api_context(request: Request) -> ApiContext:
    """The context of the app serving ``request`` (set by :func:`kopek.api.app.create_app`)."""
    context = request.app.state.kopek
    assert isinstance(context, ApiContext), "create_app sets app.state.kopek"
    return context


async def _request_context(request: Request) -> ApiContext:
    """:func:`api_context` as a dependency: ``async`` so that it runs on the event loop, not in a hop to the thread pool."""
    return api_context(request)


Context = Annotated[ApiContext, Depends(_request_context)]

# The shared types of path and query parameters. Every bound a parameter needs is here, so a
# route cannot forget one: an integer beyond the stored ids' range would reach the database.
IdentifierPath = Annotated[str, Path(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description="The record's id.")]
IdentifierQuery = Annotated[str, Query(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]
RecordIdPath = Annotated[int, Path(ge=1, le=limits.STORED_ID_MAX, description="The record's id.")]
AfterIdQuery = Annotated[
    int,
    Query(ge=0, le=limits.STORED_ID_MAX, description="Only records with a larger id: the previous page's next_after_id."),
]
PageSizeQuery = Annotated[int, Query(ge=1, le=limits.LIST_PAGE_SIZE_MAX, description="Page size.")]
AfterKeyQuery = Annotated[
    str,
    Query(
        max_length=limits.IDENTIFIER_CHARS_MAX,
        description="Only records whose id sorts after this one: the previous page's next_after_id; empty: from the first.",
    ),
]


def filter_query(description: str) -> Any:
    """The query parameter of an optional filter naming a record (an id, a plan, an item class): absent matches any."""
    return Query(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX, description=description)

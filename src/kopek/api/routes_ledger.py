"""``/v1/ledger:verify``: check that the ledger adds up (administrators only; see docs/reliability.md)."""

from __future__ import annotations

from fastapi import APIRouter

from kopek.admin.ledger import LedgerReport
from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute

DESCRIPTION = """
Check the whole ledger in one snapshot: every balance equals the sum of its account
operations, every reservation belongs to a live session (and every counter hold), and
every charged item that moves money is posted by exactly one account operation. The
answer is 200 either way: `consistent` says whether anything differs, and `differences`
lists what (the first 1,000; `differences_total` counts them all). Reads everything:
run it off-peak on a large ledger.
"""


def verify_ledger(context: Context) -> LedgerReport:
    return context.engine.verify_ledger()


def router() -> APIRouter:
    routes = APIRouter(tags=["ledger"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "/v1/ledger:verify", verify_ledger, methods=["GET"], response_model=LedgerReport,
        summary="Verify the ledger", description=DESCRIPTION, responses=error_responses(503),
    )  # fmt: skip
    return routes

"""``/v1/master-data``: create many subscriber accounts, contracts and accesses at once, all or nothing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from kopek import limits
from kopek.admin.master_data import MasterDataDocument
from kopek.api.auth import Actor
from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.errors import Code, InvalidError


class MasterDataCounts(BaseModel):
    """How many records of each kind were created."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"subscriber_accounts": 1, "contracts": 1, "accesses": 1}]},
        use_attribute_docstrings=True,
        frozen=True,
    )

    subscriber_accounts: int
    """Subscriber accounts created."""
    contracts: int
    """Contracts created."""
    accesses: int
    """Accesses created."""


def load_master_data(document: MasterDataDocument, context: Context, actor: Actor) -> MasterDataCounts:
    """Create the subscriber accounts, then the contracts, then the accesses; any fault creates nothing."""
    records = len(document.subscriber_accounts) + len(document.contracts) + len(document.accesses)
    if records > limits.BULK_RECORDS_PER_REQUEST_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED,
            message=f"a master data request holds at most {limits.BULK_RECORDS_PER_REQUEST_MAX} records, this one {records}",
        )
    return MasterDataCounts.model_validate(context.engine.load_master_data(document, actor=actor))


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/master-data", tags=["master data"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        load_master_data,
        methods=["POST"],
        status_code=201,
        response_model=MasterDataCounts,
        summary="Load master data in bulk",
        responses=error_responses(404, 409, 422),
    )
    return routes

"""``/v1/charging``: offline charging of one chargeable item, with idempotent retries."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from kopek import limits
from kopek.admin.master_data import AwareDatetime
from kopek.api.context import ApiContext, Context
from kopek.api.errors import error_response, error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.hot_routes import HotEndpoint
from kopek.api.metrics import CHARGED, REPLAYED
from kopek.charging.offline import error_notifications
from kopek.charging.results import ChargeResult, ResultOptions
from kopek.domain.item import ChargeableItem
from kopek.errors import Category, Code, ErrorDetail, InvalidError, KopekError

Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=limits.IDEMPOTENCY_KEY_CHARS_MAX)]


def _iso_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date and time with a time zone offset, as text")
    return value


ConsumptionDate = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
PropertyValue = Annotated[
    Any,
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}),
]

QuantityValue = Annotated[
    Any,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?$"}, {"type": "integer", "minimum": 0}, {"type": "number", "minimum": 0}]}
    ),
]
"""A quantity in the item class's quantity unit: a decimal string or a JSON number (read exactly, never as a float), never a boolean."""

SECTIONS = (
    "charging_process_info",
    "contract_info",
    "chargeable_item_info",
    "charged_items",
    "account_operations",
    "account_info",
    "notifications",
)
"""The parts of a charge result that result options switch on and off."""

DESCRIPTION = """
Charge one chargeable item: find the contract its access selects at the consumption
date, rate it with the current catalog, debit or accumulate the payer accounts and
update counters, all in one commit. A refused charge changes nothing.

**Exact numbers.** The body is parsed without binary floats: a JSON number with a
fraction or exponent (`"duration": 90.5`) is read as an exact decimal from its text,
never through a float, so it is priced exactly as the string `"90.5"` would be.
Amounts in the result are strings (`"0.60"`).

**Result options.** The result holds `operation_id` and exactly the sections that
`options` asks for (by default only `charged_items`); other sections are absent.

**Idempotency.** Send an `idempotency_key` (in the body or the `Idempotency-Key`
header; if both are given they must be equal). A retry with the same key and the
same item answers the first result with status 200 and charges nothing more; the
same key with a different item is refused (`ALREADY_EXISTS`,
`idempotency_key_reused_with_different_item`).

**Errors.** A refusal answers the error shape with its category's status. With
`options.notifications_on_error`, the error body also holds the `notifications` the
refusal raised (e.g. the `no_access` notification of a barred destination).
"""


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChargeableItemInput(_Request):
    """One use of a service, as a client sends it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item_class": "voice_call",
                    "consumption_date": "2026-06-01T10:00:00+00:00",
                    "service_id": "mobile",
                    "user_id": "alice-msisdn",
                    "properties": {"duration": "125", "destination": "33123"},
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    item_class: Identifier = Field(description="A chargeable item class of the catalog, e.g. voice_call.")
    consumption_date: ConsumptionDate = Field(description="When the service was used: ISO 8601 with a time zone offset.")
    service_id: Identifier
    """The service used, e.g. mobile; with the user id, the access that selects the contract."""
    user_id: Identifier
    """The user of the service, e.g. a phone number; with the service id, the access that selects the contract."""
    properties: dict[str, PropertyValue] = Field(
        default_factory=dict,
        description="Property values by name; decimals as strings or JSON numbers (read exactly), datetimes as ISO 8601 text.",
    )

    def chargeable_item(self) -> ChargeableItem:
        return ChargeableItem(self.item_class, self.consumption_date, self.service_id, self.user_id, dict(self.properties))


class ChargeRequest(_Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item": {
                        "item_class": "voice_call",
                        "consumption_date": "2026-06-01T10:00:00+00:00",
                        "service_id": "mobile",
                        "user_id": "alice-msisdn",
                        "properties": {"duration": "125", "destination": "33123"},
                    },
                    "options": {
                        "charging_process_info": True,
                        "contract_info": True,
                        "chargeable_item_info": True,
                        "account_operations": True,
                        "account_info": True,
                        "charged_items": True,
                        "notifications": True,
                    },
                    "idempotency_key": "call-0001",
                    "sender_job_id": "switch-7",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    item: ChargeableItemInput
    """The chargeable item to charge."""
    options: ResultOptions = Field(default_factory=ResultOptions)
    """Which sections the result holds (default: only the charged items)."""
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="Makes retries safe; also accepted as the Idempotency-Key header."
    )
    sender_job_id: Identifier | None = Field(default=None, description="The sender's job or batch, kept with the operation.")


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=limits.IDEMPOTENCY_KEY_CHARS_MAX,
        description="Same as the body's idempotency_key.",
    ),
]


async def charge_item(charge_request: ChargeRequest, context: Context, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    return await context.blocking.run(answer_charge, context, charge_request, None, idempotency_key)


def answer_charge(
    context: ApiContext, charge_request: ChargeRequest, _no_path_parameter: str | None, idempotency_key: str | None
) -> Response:
    """The whole blocking work of a charge: the engine's call, the metrics and the answer's text (a :data:`HotAnswer`)."""
    started = time.perf_counter()
    try:
        result = _charge(charge_request, context, idempotency_key)
    except KopekError as error:
        context.metrics.observe(error.category.value, time.perf_counter() - started)
        if charge_request.options.notifications_on_error:
            return error_response(error, notifications=error_notifications(error))
        raise
    except Exception:
        context.metrics.observe(Category.ILLEGAL_SYSTEM_STATE.value, time.perf_counter() - started)
        raise
    process = result.charging_process_info
    assert process is not None, "_charge always asks for the charging process info"
    context.metrics.observe(REPLAYED if process.replayed else CHARGED, time.perf_counter() - started)
    selected = result.select(charge_request.options)
    absent = {section for section in SECTIONS if getattr(selected, section) is None}
    # pydantic writes the JSON text itself (amounts as exact decimal strings, as model_dump's JSON mode does), without the
    # dictionaries of model_dump and a second pass of the json module.
    body = selected.model_dump_json(exclude=absent)
    return Response(body, status_code=200 if process.replayed else 201, media_type="application/json")


def _charge(charge_request: ChargeRequest, context: ApiContext, header_key: str | None) -> ChargeResult:
    """Charge, always asking for the process info: it tells a first charge (201) from a replay (200)."""
    options = charge_request.options.model_copy(update={"charging_process_info": True})
    return context.engine.charge(
        charge_request.item.chargeable_item(),
        options,
        idempotency_key=chosen_idempotency_key(charge_request.idempotency_key, header_key),
        sender_job_id=charge_request.sender_job_id,
    )


def chosen_idempotency_key(body_key: str | None, header_key: str | None) -> str | None:
    """The request's idempotency key, from its body or its ``Idempotency-Key`` header; two different ones are refused."""
    if body_key is not None and header_key is not None and body_key != header_key:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message="the Idempotency-Key header and the body's idempotency_key differ",
            details=(ErrorDetail("differs from the Idempotency-Key header", ("body", "idempotency_key"), Code.REQUEST_INVALID),),
        )
    return body_key or header_key


def hot_endpoints() -> tuple[HotEndpoint, ...]:
    """The charge, answered by :class:`~kopek.api.hot_routes.HotRoutes` when the request is plainly well-formed."""
    return (HotEndpoint("charge_item", ChargeRequest, answer_charge),)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/charging", tags=["charging"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        charge_item,
        methods=["POST"],
        status_code=201,
        response_model=ChargeResult,
        summary="Charge one chargeable item (offline charging)",
        description=DESCRIPTION,
        responses={
            200: {"model": ChargeResult, "description": "An idempotent replay: the first result; nothing more was charged."},
            **error_responses(404, 409, 422, 503),
        },
    )
    return routes

"""``/v1/price-enquiries``: what an item, or a requested quantity of it, would cost now, charging nothing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from kopek.api.context import Context
from kopek.api.errors import error_responses
from kopek.api.exact_json import ExactJsonRoute
from kopek.api.routes_charging import ChargeableItemInput, QuantityValue
from kopek.charging.price_enquiry import Quote
from kopek.domain.validation import Flag

DESCRIPTION = """
Rate one chargeable item as an offline charge would (the same checks: item class,
properties, access, contract chargeable; the same catalog and counters, less what live
grants hold) and answer what it would cost, **changing nothing**: no charge, no counter,
no reservation, no notification is written.

The answer holds the amount and its currency, each charge that would apply with its
breakdown by **pricing node** (the nodes of the charge's tree the item went through,
each with the quantity it priced and its exact, unrounded amount), and the **allowances**
the item would draw free units from.

`quantity` replaces the item's quantity property (in its class's quantity unit).
`maximum_affordable: true` also answers the largest quantity of the item that the
paying accounts can afford now, as a session's grant computes it (on the charge's
increment grid, after live reservations). Both need an item class with a quantity
(`INVALID`, `item_class_has_no_quantity`).

A refusal is the charge's refusal, with the same category and code. See docs/price-enquiry.md.
"""


class QuoteRequest(BaseModel):
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
                    "quantity": "300",
                    "maximum_affordable": True,
                }
            ]
        },
        use_attribute_docstrings=True,
        frozen=True,
        extra="forbid",
    )

    item: ChargeableItemInput = Field(description="The chargeable item to price.")
    quantity: QuantityValue | None = Field(
        default=None, description="A quantity to price instead of the item's own, in its class's quantity unit (read exactly)."
    )
    maximum_affordable: Flag = Field(default=False, description="Also answer the maximum affordable quantity of the item.")


def create_price_enquiry(request: QuoteRequest, context: Context) -> Quote:
    return context.engine.quote(request.item.chargeable_item(), quantity=request.quantity, maximum_affordable=request.maximum_affordable)


def router() -> APIRouter:
    routes = APIRouter(prefix="/v1/price-enquiries", tags=["charging"], route_class=ExactJsonRoute)
    routes.add_api_route(
        "",
        create_price_enquiry,
        methods=["POST"],
        status_code=200,
        response_model=Quote,
        summary="Price an item without charging it (price enquiry)",
        description=DESCRIPTION,
        responses=error_responses(404, 409, 422, 503),
    )
    return routes

"""A price enquiry (a quote): what one chargeable item, or a requested quantity of it, would cost now, changing
nothing.

The same checks and the same rating as an offline charge (item class, properties, access, contract
chargeable), on the counters as stored less what live grants hold; the answer breaks the amount down
by charge and by pricing node, and tells the allowances the item would use. Asked for, it also tells
the maximum affordable quantity of the item, found by the very search a session's grant makes
(:func:`kopek.rating.grant.grant`). The unit of work is never committed, so nothing is written.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from kopek.charging.offline import ChargeCommand, ChargingContext, chargeable_contract, charged_item_fields, typed_item
from kopek.charging.quantities import checked_quantity
from kopek.charging.rating_state import load_rating_state
from kopek.charging.results import ChargedItemView, ResultOptions
from kopek.domain.accounts import resolve_payers, spendable
from kopek.domain.catalog import Catalog, Dec, ExactNumber, Quantity
from kopek.domain.item import ChargeableItem, TypedItem
from kopek.domain.master import Contract
from kopek.errors import Code, ErrorDetail, InvalidError, KopekError
from kopek.money import ZERO, exact, rating_context
from kopek.rating.grant import grant as grant_for
from kopek.rating.outcome import CounterChange, RatingOutcome
from kopek.rating.price_tree import NodePrice
from kopek.rating.rate import ChargeTrace, RatingState, rate_item_traced
from kopek.schema_examples import example_of
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class QuoteCommand:
    """Ask the price of ``item``; ``quantity`` (in the item class's quantity unit) replaces its quantity property when
    given; ``maximum_affordable`` also asks the largest quantity of the item the money available buys."""

    item: ChargeableItem
    quantity: object | None = None
    maximum_affordable: bool = False


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class QuotedNode(_View):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"depth": 1, "node": "rate", "detail": "0.01 per 1 seconds", "quantity": "65", "amount": "0.65"}]}
    )

    depth: int = Field(description="0 for the charge's root node, one more for each node below it.")
    node: str = Field(description="The node's type: flat, rate, tiers, switch, allowance, discount, cap, schedule, ...")
    detail: str = Field(description="What the node looked at: the property or counter, the amount per unit; empty when nothing.")
    quantity: ExactNumber = Field(description="The quantity the node priced, in the item's quantity unit (n/d when not a finite decimal).")
    amount: ExactNumber = Field(description="The node's amount, exact and not rounded (only the charge's total is rounded).")


class QuotedCharge(ChargedItemView):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_item_id": "main",
                    "charge_plan": "mobile",
                    "charge": "voice",
                    "account_role": "payer",
                    "account_id": "alice-prepaid",
                    "amount": "0.65",
                    "currency": "EUR",
                    "quantity": "125",
                    "quantity_unit": "seconds",
                    "output": "both",
                    "nodes": [
                        {"depth": 0, "node": "allowance", "detail": "free_seconds", "quantity": "125", "amount": "0.65"},
                        {"depth": 1, "node": "rate", "detail": "0.01 per 1 seconds", "quantity": "65", "amount": "0.65"},
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    nodes: list[QuotedNode] = Field(description="The pricing nodes of the charge's tree the item went through, in the order entered.")


class AllowanceUse(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "alice-contract",
                    "contract_item_id": "main",
                    "scope": "contract_item",
                    "namespace": "",
                    "counter": "free_seconds",
                    "unit": "seconds",
                    "before": "60",
                    "after": "0",
                    "used": "60",
                }
            ]
        }
    )

    contract_id: str = Field(description="The contract that keeps the counter; empty for a shared counter.")
    contract_item_id: str = Field(description="The contract item or activation of the counter; empty for contract and shared scope.")
    scope: str = Field(description="The counter's scope: contract, contract_item, activation, shared or transient.")
    namespace: str = Field(description="The namespace of a shared counter; empty otherwise.")
    counter: str = Field(description="The allowance counter's name.")
    unit: str = Field(description="The counter's unit.")
    before: ExactNumber = Field(description="Free units left before the item, after what live grants hold.")
    after: ExactNumber = Field(description="Free units the item would leave.")
    used: ExactNumber = Field(description="Free units the item would use: before less after.")


class AffordableAmount(_View):
    model_config = ConfigDict(json_schema_extra={"examples": [{"account_id": "alice-prepaid", "amount": "4.80"}]})

    account_id: str = Field(description="A paying account.")
    amount: Dec = Field(description="The price of the maximum affordable quantity for this account.")


class MaximumAffordable(_View):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"quantity": "480", "amounts": [{"account_id": "alice-prepaid", "amount": "4.80"}], "refusal": None}]
        }
    )

    quantity: Quantity = Field(
        description="The largest quantity on the charge's increment grid whose price fits what the accounts can spend, as a "
        "session's grant computes it (up to the grant's step limit)."
    )
    amounts: list[AffordableAmount] = Field(description="Its price per paying account.")
    refusal: str | None = Field(description="Why nothing is affordable (an error code), when the quantity is zero; null otherwise.")


class Quote(_View):
    """What a price enquiry answers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "alice-contract",
                    "subscriber_account_id": "alice",
                    "catalog_version": 1,
                    "item_class": "voice_call",
                    "consumption_date": "2026-06-01T10:00:00Z",
                    "quantity": "125",
                    "quantity_unit": "seconds",
                    "amount": "0.65",
                    "currency": "EUR",
                    "charges": [example_of(QuotedCharge)],
                    "allowances": [example_of(AllowanceUse)],
                    "maximum_affordable": example_of(MaximumAffordable),
                }
            ]
        }
    )

    contract_id: str = Field(description="The contract the item's access selects at its consumption date.")
    subscriber_account_id: str = Field(description="The subscriber account of that contract.")
    catalog_version: int = Field(description="The catalog version that priced the item (the current one).")
    item_class: str = Field(description="The item's chargeable item class.")
    consumption_date: datetime = Field(description="The item's consumption date.")
    quantity: Quantity | None = Field(description="The quantity priced, in quantity_unit; null for a class without a quantity.")
    quantity_unit: str | None = Field(description="The unit of the quantity; null for a class without a quantity.")
    amount: Dec = Field(description="The sum of the charges' amounts: what charging the item now would cost.")
    currency: str | None = Field(description="The currency of the amount; null when the charges are in several currencies.")
    charges: list[QuotedCharge] = Field(description="One per charge that would apply, with its breakdown by pricing node.")
    allowances: list[AllowanceUse] = Field(description="The allowance counters the item would draw free units from.")
    maximum_affordable: MaximumAffordable | None = Field(default=None, description="Present when asked for.")


@dataclass(frozen=True, slots=True)
class PriceEnquiry:
    """The amount the item would cost (the sum of its charges), in ``currency``; ``contract_id`` is the contract it selects."""

    amount: Decimal
    currency: str | None
    contract_id: str


def quote(command: QuoteCommand, context: ChargingContext) -> Quote:
    """Rate ``command``'s item against the contract's current state, charging and writing nothing."""
    with UnitOfWork(context.engine) as uow:
        catalog = context.catalogs.current(uow)
        typed = typed_item(catalog.catalog, ChargeCommand(_asked_item(catalog.catalog, command), ResultOptions()))
        contract = chargeable_contract(uow, typed)
        state = load_rating_state(uow, catalog.catalog, contract)
        outcome, traces = rate_item_traced(catalog.catalog, state, typed)
        affordable = _maximum_affordable(uow, catalog.catalog, state, typed) if command.maximum_affordable else None
        # Never committed: the unit of work rolls back whatever reading the state needed (a shared counter's first row).
    return _answer(catalog.version, contract, typed, outcome, traces, affordable)


def enquire_price(item: ChargeableItem, context: ChargingContext) -> PriceEnquiry:
    """What ``item`` would cost now: the amount of its quote."""
    answer = quote(QuoteCommand(item), context)
    return PriceEnquiry(answer.amount, answer.currency, answer.contract_id)


def _asked_item(catalog: Catalog, command: QuoteCommand) -> ChargeableItem:
    """The item to price: ``command``'s, with its quantity property set to the requested quantity if one is given."""
    item = command.item
    if command.quantity is None and not command.maximum_affordable:
        return item
    item_class = catalog.item_class(item.item_class)
    if item_class is None:
        return item  # typed_item refuses it with the item class's own error.
    if item_class.quantity is None:
        field = "quantity" if command.quantity is not None else "maximum_affordable"
        raise InvalidError(
            code=Code.ITEM_CLASS_WITHOUT_QUANTITY,
            message=f"item class {item_class.name!r} has no quantity property; it has no {field.replace('_', ' ')}",
            details=(ErrorDetail("the item class has no quantity", (field,), Code.ITEM_CLASS_WITHOUT_QUANTITY),),
        )
    if command.quantity is None:
        return item
    quantity = checked_quantity(command.quantity, "quantity")
    return ChargeableItem(
        item.item_class, item.consumption_date, item.service_id, item.user_id, {**item.properties, item_class.quantity: str(quantity)}
    )


def _maximum_affordable(uow: UnitOfWork, catalog: Catalog, state: RatingState, item: TypedItem) -> MaximumAffordable:
    """The largest quantity of ``item`` the paying accounts can afford now, as a session's grant finds it."""
    accounts = uow.master.lock_accounts(state.contract.roles.values())
    available = spendable(accounts, uow.sessions.reserved(accounts))
    try:
        found = grant_for(catalog, state, item, accounts, available)
    except KopekError as refused:
        return MaximumAffordable(quantity=ZERO, amounts=[], refusal=refused.code.value)
    amounts = [AffordableAmount(account_id=payer, amount=amount) for payer, amount in sorted(found.amounts.items())]
    refusal = found.refusal.code.value if found.refusal is not None else None
    return MaximumAffordable(quantity=found.quantity, amounts=amounts, refusal=refusal)


def _answer(
    version: int,
    contract: Contract,
    item: TypedItem,
    outcome: RatingOutcome,
    traces: tuple[ChargeTrace, ...],
    affordable: MaximumAffordable | None,
) -> Quote:
    payers = resolve_payers(contract, outcome.charged_items)
    charges = [
        QuotedCharge(**charged_item_fields(charged, payer), nodes=[_node(node) for node in trace])
        for charged, payer, trace in zip(outcome.charged_items, payers, traces, strict=True)
    ]
    with decimal.localcontext(rating_context()):
        amount = sum((charged.amount for charged in outcome.charged_items), ZERO)
    currencies = {charged.currency for charged in outcome.charged_items}
    name = item.item_class.quantity
    unit = item.item_class.quantity_unit
    quantity = item.properties.get(name) if name is not None else None
    return Quote(
        contract_id=contract.id,
        subscriber_account_id=contract.subscriber_account_id,
        catalog_version=version,
        item_class=item.item_class.name,
        consumption_date=item.consumption_date,
        quantity=Decimal(quantity) if isinstance(quantity, Decimal | int) else None,
        quantity_unit=unit.value if unit is not None and name is not None else None,
        amount=amount,
        currency=currencies.pop() if len(currencies) == 1 else None,
        charges=charges,
        allowances=_allowances(outcome.counter_changes, traces),
        maximum_affordable=affordable,
    )


def _node(node: NodePrice) -> QuotedNode:
    return QuotedNode(depth=node.depth, node=node.node, detail=node.detail, quantity=node.quantity, amount=node.amount)


def _allowances(changes: tuple[CounterChange, ...], traces: tuple[ChargeTrace, ...]) -> list[AllowanceUse]:
    """The counter changes of the counters that the allowance nodes the item went through drew from."""
    drawn = {node.detail for trace in traces for node in trace if node.node == "allowance"}
    return [
        AllowanceUse(
            contract_id=change.key.contract_id,
            contract_item_id=change.key.item_id,
            scope=change.key.scope.value,
            namespace=change.key.namespace,
            counter=change.key.name,
            unit=change.unit.value,
            before=change.before,
            after=change.after,
            used=exact(change.before) - exact(change.after),
        )
        for change in changes
        if change.key.name in drawn and change.after != change.before
    ]

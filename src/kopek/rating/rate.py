"""Rating: ``(catalog, contract state, chargeable item) -> RatingOutcome``, a pure function.

Every charge of every contract item whose plan prices the item's class is applied
in contract order; they share one view of the counters, so an allowance used by
one charge is gone for the next.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from kopek.domain.catalog import Catalog, Charge, ChargePlan, CounterAddend, CounterScope, CounterSpec, ThresholdDirection
from kopek.domain.item import TypedItem
from kopek.domain.master import Contract, ContractItem
from kopek.errors import Code, IllegalStateError, PrerequisiteMissingError, Reason
from kopek.money import ONE, ZERO, quantize, rating_context, to_text
from kopek.rating.outcome import ChargedItem, CounterChange, CounterKey, Notification, NotificationKind, RatingOutcome
from kopek.rating.pricing import CounterView, PricingInput, guard_arithmetic, price


@dataclass(frozen=True, slots=True)
class ContractState:
    """A contract and the stored values of its counters (missing keys hold their initial value)."""

    contract: Contract
    counters: Mapping[CounterKey, Decimal]


def rate_item(catalog: Catalog, state: ContractState, item: TypedItem) -> RatingOutcome:
    """Price ``item`` under every applicable charge of ``state``'s contract."""
    values = dict(state.counters)
    notifications: list[Notification] = []
    charged: list[ChargedItem] = []
    touched: dict[CounterKey, CounterSpec] = {}
    before: dict[CounterKey, Decimal] = {}
    try:
        with decimal.localcontext(rating_context()):
            for contract_item, plan in _plans(catalog, state.contract, item.consumption_date):
                view = _view(state.contract, contract_item, plan, values, notifications)
                for key in view.keys.values():
                    before.setdefault(key, values[key])
                for charge in plan.charges:
                    if charge.item_class == item.item_class.name:
                        charged.append(_apply_charge(charge, plan, contract_item, item, view, calendars=catalog.holiday_dates))
                touched.update({view.keys[spec.name]: spec for spec in plan.counters})
    except decimal.DecimalException as error:
        raise guard_arithmetic(error) from error
    if not charged:
        raise IllegalStateError(
            code=Code.NO_CHARGE_FOR_ITEM_CLASS,
            reason=Reason.NOT_AUTHORIZED,
            message=f"contract {state.contract.id!r} has no charge for item class {item.item_class.name!r}",
        )
    changes = tuple(
        CounterChange(key, spec.unit, before[key], values[key]) for key, spec in sorted(touched.items()) if values[key] != before[key]
    )
    notifications.extend(_crossings(changes, touched))
    return RatingOutcome(tuple(charged), changes, tuple(notifications))


def _crossings(changes: tuple[CounterChange, ...], specs: Mapping[CounterKey, CounterSpec]) -> list[Notification]:
    """A ``threshold_crossed`` notification for each threshold an item moved its counter across."""
    crossed = []
    for change in changes:
        for threshold in specs[change.key].thresholds:
            going_up = threshold.direction is ThresholdDirection.UP
            if (change.before < threshold.value <= change.after) if going_up else (change.before > threshold.value >= change.after):
                value = to_text(threshold.value)
                crossed.append(
                    Notification(
                        NotificationKind.THRESHOLD_CROSSED,
                        f"counter {change.key.name!r} crossed {value} going {threshold.direction}",
                        {"counter": change.key.name, "value": value, "direction": threshold.direction.value},
                    )
                )
    return crossed


def price_quantity(catalog: Catalog, state: ContractState, item: TypedItem) -> Decimal:
    """The total amount ``item`` would cost, changing nothing (a price enquiry)."""
    return sum((charged.amount for charged in rate_item(catalog, state, item).charged_items), ZERO)


def _plans(catalog: Catalog, contract: Contract, at: datetime) -> list[tuple[ContractItem, ChargePlan]]:
    """The version of each contract item's plan in effect at ``at``, the consumption date."""
    plans = []
    for contract_item in contract.items:
        plan = catalog.charge_plan(contract_item.charge_plan, at)
        if plan is None:
            known = catalog.charge_plan(contract_item.charge_plan) is not None
            raise PrerequisiteMissingError(
                code=Code.CHARGE_PLAN_UNKNOWN,
                message=f"contract item {contract_item.id!r} activates unknown charge plan {contract_item.charge_plan!r}"
                + (f" (no version in effect on {at.astimezone(UTC).date().isoformat()})" if known else ""),
            )
        plans.append((contract_item, plan))
    return plans


def _view(
    contract: Contract, contract_item: ContractItem, plan: ChargePlan, values: dict[CounterKey, Decimal], notifications: list[Notification]
) -> CounterView:
    keys = {
        spec.name: CounterKey(contract.id, "" if spec.scope is CounterScope.CONTRACT else contract_item.id, spec.name)
        for spec in plan.counters
    }
    for spec in plan.counters:
        values.setdefault(keys[spec.name], spec.initial)
    return CounterView(values, {spec.name: spec for spec in plan.counters}, keys, notifications)


def _apply_charge(
    charge: Charge,
    plan: ChargePlan,
    contract_item: ContractItem,
    item: TypedItem,
    view: CounterView,
    *,
    calendars: Mapping[str, frozenset[date]],
) -> ChargedItem:
    unit = item.item_class.quantity_unit
    quantity = item.quantity
    base_quantity = unit.to_base(quantity) if unit is not None else quantity
    given = PricingInput(item.properties, unit, item.consumption_date, calendars)
    unrounded = price(charge.price, base_quantity, given, view)
    amount = quantize(unrounded, decimals=charge.rounding.decimals, mode=charge.rounding.mode)
    for update in charge.counter_updates:
        counter_unit = view.unit(update.counter)
        if update.add is CounterAddend.QUANTITY:
            addend = counter_unit.from_base(base_quantity)
        elif update.add is CounterAddend.AMOUNT:
            addend = amount
        else:
            addend = ONE
        view.set(update.counter, view.get(update.counter) + addend)
    return ChargedItem(
        contract_item_id=contract_item.id,
        charge_plan=plan.name,
        charge=charge.name,
        account_role=charge.account_role,
        amount=amount,
        currency=plan.currency,
        quantity=quantity,
        quantity_unit=unit,
        output=charge.output,
    )

"""Refills: the amount a refill plan allows, the credit of a prepaid balance, and bonus units.

Pure: the shell (:mod:`kopek.charging.refills`) loads the plan, the contract, the
account and the bonus counter, calls these, and stores the results in one commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from kopek.domain.accounts import AccountOperation, OperationKind, adjust
from kopek.domain.catalog import Catalog, CounterScope, CounterSpec, RefillBonus, RefillPlan
from kopek.domain.master import Account, AccountKind, AccountStatus, Contract, SubscriberAccountStatus
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.errors import Code, IllegalStateError, IncompatibleConfigurationError, InvalidConfigurationError, InvalidError, Reason
from kopek.money import ExactInput, exact, to_text


def refill_amount(plan: RefillPlan, requested: Decimal | None) -> Decimal:
    """The amount to credit: the plan's fixed amount (a request may repeat it), or the requested
    amount within the plan's bounds (both inclusive)."""
    if plan.amount is not None:
        if requested is None or requested == plan.amount:
            return plan.amount
        raise InvalidError(
            code=Code.REFILL_AMOUNT_OUT_OF_BOUNDS, message=f"refill plan {plan.name!r} credits exactly {to_text(plan.amount)}"
        )
    if requested is None:
        raise InvalidError(code=Code.REFILL_AMOUNT_OUT_OF_BOUNDS, message=f"refill plan {plan.name!r} needs an amount")
    below = requested <= 0 or (plan.min_amount is not None and requested < plan.min_amount)
    if below or (plan.max_amount is not None and requested > plan.max_amount):
        low = to_text(plan.min_amount) if plan.min_amount is not None else "more than 0"
        high = to_text(plan.max_amount) if plan.max_amount is not None else "any amount"
        raise InvalidError(
            code=Code.REFILL_AMOUNT_OUT_OF_BOUNDS,
            message=f"refill plan {plan.name!r} credits from {low} to {high}, not {to_text(requested)}",
        )
    return requested


def credit(plan: RefillPlan, account: Account, amount: Decimal) -> tuple[Account, AccountOperation]:
    """Credit ``amount`` to ``account``, a prepaid account of an open subscriber account in the plan's currency."""
    if account.kind is not AccountKind.PREPAID:
        raise IncompatibleConfigurationError(
            code=Code.REFILL_ACCOUNT_NOT_PREPAID,
            message=f"refill plan {plan.name!r} credits role {plan.account_role!r}, held by {account.kind.value} account {account.id!r}",
        )
    if account.holder_status is SubscriberAccountStatus.CLOSED:
        raise IllegalStateError(
            code=Code.ACCOUNT_CLOSED,
            reason=Reason.ACCOUNT_CLOSED,
            message=f"account {account.id!r} belongs to a closed subscriber account",
        )
    if account.status is AccountStatus.CLOSED:
        raise IllegalStateError(code=Code.ACCOUNT_CLOSED, reason=Reason.ACCOUNT_CLOSED, message=f"account {account.id!r} is closed")
    if account.currency != plan.currency:
        raise InvalidConfigurationError(
            code=Code.CURRENCY_MISMATCH,
            reason=Reason.CANNOT_CHARGE_ACCOUNT,
            message=f"refill plan {plan.name!r} is in {plan.currency}, account {account.id!r} holds {account.currency}",
        )
    return adjust(account, amount, OperationKind.REFILL)


def bonus_counter(catalog: Catalog, contract: Contract, bonus: RefillBonus, at: datetime) -> tuple[CounterKey, CounterSpec]:
    """Where the bonus goes: the counter of the first contract item whose plan (in effect at ``at``) declares it."""
    for item in contract.items:
        plan = catalog.charge_plan(item.charge_plan, at)
        spec = plan.counter(bonus.counter) if plan is not None else None
        if spec is None or spec.scope not in (CounterScope.CONTRACT, CounterScope.CONTRACT_ITEM):
            continue
        item_id = "" if spec.scope is CounterScope.CONTRACT else item.id
        return CounterKey(contract.id, item_id, spec.name, spec.scope), spec
    raise IncompatibleConfigurationError(
        code=Code.BONUS_COUNTER_NOT_IN_CONTRACT,
        message=f"no contract item of contract {contract.id!r} has a plan declaring the bonus counter {bonus.counter!r}",
    )


@dataclass(frozen=True, slots=True)
class StoredCounter:
    """A counter as stored: its value, the start of its reset period and when it lapses (none: never)."""

    value: ExactInput
    period_start: datetime | None = None
    expires_at: datetime | None = None


def bonus_change(key: CounterKey, spec: CounterSpec, stored: StoredCounter | None, bonus: RefillBonus, now: datetime) -> CounterChange:
    """The counter after adding the bonus units at ``now``.

    The units go on top of the counter's current value (its initial value when it lapsed
    or its reset period ended). The value lapses ``expires_after_days`` after ``now``, or
    later when the stored value already lapses later: a bonus never shortens an earlier one.
    """
    expires_at = now + timedelta(days=bonus.expires_after_days)
    if stored is not None and _standing(spec, stored, now) and stored.expires_at is not None and stored.expires_at > expires_at:
        expires_at = stored.expires_at
    return replayed_bonus_change(key, spec, stored, bonus.units, expires_at=expires_at, at=now)


def replayed_bonus_change(
    key: CounterKey, spec: CounterSpec, stored: StoredCounter | None, units: ExactInput, *, expires_at: datetime, at: datetime
) -> CounterChange:
    """The counter after adding ``units`` bonus units at ``at`` that lapse at ``expires_at``: a refill's bonus as it was
    given, charged again in its place by a recharge (docs/recharging.md)."""
    cycle = spec.cycle()
    period_start = cycle.start_of(at) if cycle is not None else None
    current = exact(stored.value) if stored is not None and _standing(spec, stored, at) else exact(spec.initial)
    before = exact(stored.value) if stored is not None else exact(spec.initial)
    return CounterChange(key, spec.unit, before, current + exact(units), period_start, expires_at)


def _standing(spec: CounterSpec, stored: StoredCounter, at: datetime) -> bool:
    """Whether ``stored`` still holds at ``at``: it has not lapsed and its reset period has not ended."""
    cycle = spec.cycle()
    period_start = cycle.start_of(at) if cycle is not None else None
    lapsed = stored.expires_at is not None and stored.expires_at <= at
    reset = period_start is not None and stored.period_start is not None and stored.period_start < period_start
    return not lapsed and not reset

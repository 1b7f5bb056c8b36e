"""Refills: credit a prepaid balance by a refill plan, with optional bonus units; all or nothing.

The checks, in this order (the first failing one answers): refill id not used
for another request (a retry answers the first result) -> refill plan known ->
amount in no more places than the plan's currency has -> amount within the plan's
bounds -> contract exists -> contract not migrating or locked and valid now -> the plan's
account role assigned -> the account is prepaid, its subscriber account not closed,
its currency the plan's -> the bonus counter declared by one of the contract's
plans. Then one commit stores the operation, the account operation, the new
balance, the bonus counter, the ``refill_applied`` notification and the refill id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from kopek.charging.offline import MIGRATION_RETRY_AFTER_SECONDS, STORAGE_RETRY_AFTER_SECONDS, ChargingContext
from kopek.charging.results import NotificationView
from kopek.domain.catalog import Catalog, RefillPlan
from kopek.domain.currencies import entered_amount
from kopek.domain.master import Contract, ContractStatus
from kopek.domain.refills import bonus_change, bonus_counter, credit, refill_amount
from kopek.errors import (
    AlreadyExistsError,
    Code,
    DoesNotExistError,
    IllegalStateError,
    PrerequisiteMissingError,
    Reason,
    TemporaryIllegalStateError,
)
from kopek.money import exact_text, to_text
from kopek.rating.outcome import CounterChange, NotificationKind
from kopek.store.database import is_transient
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class RefillCommand:
    """Credit contract ``contract_id`` by ``refill_plan``; ``refill_id`` makes retries safe.
    ``amount`` may be left out when the plan credits a fixed amount."""

    refill_id: str
    contract_id: str
    refill_plan: str
    amount: Decimal | None = None


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BonusView(_Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counter": "bonus_minutes",
                    "contract_item_id": "monthly",
                    "units": "30",
                    "unit": "minutes",
                    "value_after": "30",
                    "expires_at": "2026-06-11T12:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    counter: str
    """The counter the bonus units went to."""
    contract_item_id: str = Field(description="The contract item holding the counter; empty for a contract counter.")
    units: str
    """How many bonus units were added."""
    unit: str
    """The unit of the bonus units."""
    value_after: str
    """The counter's value after the bonus."""
    expires_at: datetime
    """When the counter's value lapses back to its initial value."""


class RefillResult(_Record):
    """What a refill did; a retry answers the same, with ``replayed`` true."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refill_id": "topup-0001",
                    "operation_id": "bd30a82c48ca6c2448b16ae5d51c6bef",
                    "contract_id": "ann-contract",
                    "refill_plan": "topup",
                    "account_id": "ann-prepaid",
                    "amount": "20.00",
                    "currency": "EUR",
                    "balance_after": "43.55",
                    "bonus": {
                        "counter": "bonus_minutes",
                        "contract_item_id": "monthly",
                        "units": "30",
                        "unit": "minutes",
                        "value_after": "30",
                        "expires_at": "2026-06-11T12:00:00Z",
                    },
                    "notifications": [
                        {
                            "kind": "refill_applied",
                            "message": "refill of 20.00 EUR by plan 'topup' credited to account 'ann-prepaid'",
                            "data": {
                                "refill_plan": "topup",
                                "account_id": "ann-prepaid",
                                "amount": "20.00",
                                "currency": "EUR",
                                "bonus_counter": "bonus_minutes",
                                "bonus_units": "30",
                                "bonus_expires_at": "2026-06-11T12:00:00+00:00",
                            },
                        }
                    ],
                    "replayed": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    refill_id: str
    """The client's id of the refill."""
    operation_id: str
    """The refill's operation."""
    contract_id: str
    """The charging contract's id."""
    refill_plan: str
    """The refill plan applied."""
    account_id: str
    """The prepaid account credited."""
    amount: str
    """The amount credited."""
    currency: str
    """ISO 4217 currency code, e.g. EUR."""
    balance_after: str
    """The balance once the operation was posted."""
    bonus: BonusView | None = None
    """The bonus units added, when the plan gives some."""
    notifications: list[NotificationView] = []
    """The refill_applied notification."""
    replayed: bool = False
    """True when this answers a retry with a known refill id: nothing was credited again."""


def refill(command: RefillCommand, context: ChargingContext, *, actor: str = "system") -> RefillResult:
    """Apply one refill, all or nothing, audited as ``actor``'s in the same commit; a retry with the same refill id
    and request changes nothing more (and is not audited again)."""
    try:
        with UnitOfWork(context.engine) as uow:
            result = _refill_in(uow, command, context, actor)
            uow.commit()
            return result
    except sa.exc.OperationalError as error:
        if not is_transient(error):
            raise
        raise TemporaryIllegalStateError(
            code=Code.STORAGE_BUSY, message="the account is busy; retry", retry_after_seconds=STORAGE_RETRY_AFTER_SECONDS
        ) from error
    except sa.exc.IntegrityError:
        # The same refill id committed first from another call: answer with its result.
        with UnitOfWork(context.engine, writes=False) as uow:
            replay = _replay(uow, command)
        if replay is None:
            raise
        return replay


def request_hash(command: RefillCommand) -> str:
    """A digest of what a refill asks, to tell a retry from another request under the same refill id."""
    canonical = {
        "contract_id": command.contract_id,
        "refill_plan": command.refill_plan,
        "amount": None if command.amount is None else to_text(command.amount.normalize()),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _replay(uow: UnitOfWork, command: RefillCommand) -> RefillResult | None:
    stored = uow.activations.refill(command.refill_id)
    if stored is None:
        return None
    stored_hash, stored_result = stored
    if stored_hash != request_hash(command):
        raise AlreadyExistsError(
            code=Code.REFILL_ID_REUSED, message=f"refill id {command.refill_id!r} was already used for a different refill"
        )
    return RefillResult.model_validate_json(stored_result).model_copy(update={"replayed": True})


def _refill_in(uow: UnitOfWork, command: RefillCommand, context: ChargingContext, actor: str) -> RefillResult:
    replay = _replay(uow, command)
    if replay is not None:
        return replay
    catalog = context.catalogs.current(uow).catalog
    plan = catalog.refill_plan(command.refill_plan)
    if plan is None:
        raise PrerequisiteMissingError(code=Code.REFILL_PLAN_UNKNOWN, message=f"unknown refill plan {command.refill_plan!r}")
    entered = (
        None if command.amount is None else entered_amount(command.amount, plan.currency, catalog.currency_decimals, field=("amount",))
    )
    amount = refill_amount(plan, entered)
    now = context.clock()
    contract = _refillable_contract(uow, command.contract_id, now)
    account_id = contract.roles.get(plan.account_role)
    if account_id is None:
        raise PrerequisiteMissingError(
            code=Code.ACCOUNT_ROLE_UNASSIGNED, message=f"contract {contract.id!r} assigns no account to role {plan.account_role!r}"
        )
    account_after, operation = credit(plan, uow.master.lock_accounts([account_id])[account_id], amount)
    change = _bonus(uow, catalog, contract, plan, now)
    operation_id = context.new_id()
    result = _result(command, operation_id, account_after.balance, amount, plan, account_id, change)
    uow.charging.insert_operation(
        {
            "id": operation_id,
            "idempotency_key": None,
            "request_hash": request_hash(command),
            "contract_id": contract.id,
            "subscriber_account_id": contract.subscriber_account_id,
            "consumption_date": now,
            "created_at": now,
            "sender_job_id": None,
            "session_id": None,
            "result": result.model_dump_json(),
        }
    )
    uow.master.set_balance(account_id, account_after.balance)
    uow.master.insert_account_operations([operation], operation_id=operation_id, at=now)
    if change is not None:
        uow.counter_journal.record([(operation_id, now, change)])
        uow.activations.write_counter(change)
    stored = {"operation_id": operation_id, "contract_id": contract.id, "created_at": now}
    uow.charging.insert_notifications([stored | note.model_dump() for note in result.notifications])
    uow.activations.insert_refill(
        {
            "id": command.refill_id,
            "contract_id": contract.id,
            "request_hash": request_hash(command),
            "operation_id": operation_id,
            "created_at": now,
            "result": result.model_dump_json(),
        }
    )
    audited = {"refill_id": command.refill_id, "refill_plan": plan.name, "account_id": account_id, "operation_id": operation_id}
    uow.audit.record(
        at=now, actor=actor, action="refill.apply", target=f"contract/{contract.id}", details=audited | {"amount": result.amount}
    )
    return result


def _refillable_contract(uow: UnitOfWork, contract_id: str, now: datetime) -> Contract:
    contract = uow.master.contract(contract_id, lock=True)
    if contract is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {contract_id!r} does not exist")
    if contract.status is ContractStatus.MIGRATING:
        raise TemporaryIllegalStateError(
            code=Code.CONTRACT_MIGRATING,
            message=f"contract {contract.id!r} is being migrated; retry later",
            retry_after_seconds=MIGRATION_RETRY_AFTER_SECONDS,
        )
    if contract.status is ContractStatus.LOCKED:
        raise IllegalStateError(
            code=Code.CONTRACT_LOCKED, reason=Reason.RECHARGING, message=f"contract {contract.id!r} is locked by a recharging operation"
        )
    if not contract.is_valid_at(now):
        raise IllegalStateError(
            code=Code.CONTRACT_OUT_OF_VALIDITY,
            reason=Reason.OUT_OF_VALIDITY_PERIOD,
            message=f"contract {contract.id!r} is not valid at {now.isoformat()}",
        )
    return contract


def _bonus(uow: UnitOfWork, catalog: Catalog, contract: Contract, plan: RefillPlan, now: datetime) -> CounterChange | None:
    if plan.bonus is None:
        return None
    key, spec = bonus_counter(catalog, contract, plan.bonus, now)
    return bonus_change(key, spec, uow.activations.stored_counter(key), plan.bonus, now)


def _result(
    command: RefillCommand,
    operation_id: str,
    balance_after: Decimal,
    amount: Decimal,
    plan: RefillPlan,
    account_id: str,
    change: CounterChange | None,
) -> RefillResult:
    bonus = None
    data = {"refill_plan": plan.name, "account_id": account_id, "amount": to_text(amount), "currency": plan.currency}
    if change is not None and plan.bonus is not None:
        assert change.expires_at is not None, "bonus units always lapse"
        bonus = BonusView(
            counter=change.key.name,
            contract_item_id=change.key.item_id,
            units=to_text(plan.bonus.units),
            unit=change.unit.value,
            value_after=exact_text(change.after),
            expires_at=change.expires_at,
        )
        data |= {"bonus_counter": change.key.name, "bonus_units": bonus.units, "bonus_expires_at": change.expires_at.isoformat()}
    note = NotificationView(
        kind=NotificationKind.REFILL_APPLIED.value,
        message=f"refill of {to_text(amount)} {plan.currency} by plan {plan.name!r} credited to account {account_id!r}",
        data=data,
    )
    return RefillResult(
        refill_id=command.refill_id,
        operation_id=operation_id,
        contract_id=command.contract_id,
        refill_plan=plan.name,
        account_id=account_id,
        amount=to_text(amount),
        currency=plan.currency,
        balance_after=to_text(balance_after),
        bonus=bonus,
        notifications=[note],
    )

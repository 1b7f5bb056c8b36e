"""The fee run: charge every due period of every fee of every contract item, exactly once.

Each contract is charged in its own unit of work (one contract's failure does not
stop the others): lock the contract, then its payers; create the charge activation
of each contract item whose plan has fees (id = the contract item's id); post every
due period, oldest first; store per period an operation (with a deterministic
idempotency key), a charged item, the account operation, a ``fee_applied``
notification (and a ``low_balance`` one when the fee takes a prepaid payer below its
threshold, as a charge does) and the period in ``fee_applications``, whose primary key makes a
period impossible to charge twice, whatever runs at the same time. See
docs/catalog.md (Fees) for the rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.charging.offline import ChargingContext
from kopek.charging.results import NotificationView
from kopek.domain.accounts import AccountOperation, less_reserved, low_balance_notifications, post_charges, with_bounds_of, without_bounds
from kopek.domain.activations import Activation, ActivationKind, ActivationStatus
from kopek.domain.catalog import Catalog, ChargePlan, Fee, InsufficientBalanceRule
from kopek.domain.fees import FEE_ITEM_CLASS, DuePeriod, due_periods, period_amount, settled_status
from kopek.domain.master import Account, AccountId, Contract, ContractItem, ContractStatus
from kopek.errors import (
    Code,
    DoesNotExistError,
    IllegalStateError,
    InvalidError,
    KopekError,
    PrerequisiteMissingError,
    TemporaryIllegalStateError,
)
from kopek.money import ONE, ZERO, to_text
from kopek.rating.outcome import ChargedItem, NotificationKind
from kopek.schema_examples import example_of
from kopek.store.activation_store import ActivationChange
from kopek.store.database import is_transient
from kopek.store.uow import UnitOfWork

CONTRACTS_PER_PAGE = 500
"""Contract ids read at once while walking every contract."""

_CANNOT_COVER = (Code.INSUFFICIENT_BALANCE, Code.CREDIT_LIMIT_REACHED)


class ContractOutcome(StrEnum):
    """What a fee run did to one contract."""

    CHARGED = "charged"
    NOTHING_DUE = "nothing_due"
    SKIPPED = "skipped"
    FAILED = "failed"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeApplied(_Record):
    """One fee period charged."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operation_id": "2f6989393de4971c0dd2376f85548d96",
                    "contract_id": "ann-contract",
                    "contract_item_id": "monthly",
                    "charge_plan": "monthly",
                    "fee": "subscription",
                    "period_start": "2026-02-01T00:00:00Z",
                    "amount": "30.00",
                    "currency": "EUR",
                    "account_id": "ann-prepaid",
                    "prorated": False,
                    "below_floor": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    operation_id: str
    """The charging operation of the fee."""
    contract_id: str
    """The charging contract's id."""
    contract_item_id: str
    """The contract item whose charge plan applied."""
    charge_plan: str
    """A charge plan of the catalog."""
    fee: str
    """The fee of the plan."""
    period_start: datetime
    """The start of the period charged."""
    amount: str = Field(description="The amount charged, in the plan's currency.")
    currency: str
    """ISO 4217 currency code, e.g. EUR."""
    account_id: str
    """The account that paid."""
    prorated: bool = Field(description="True when this is a partial first period priced by the days used.")
    below_floor: bool = Field(description="True when the payer's floor or credit limit was not applied (rule below_floor).")


class ContractFeeRun(_Record):
    """A fee run's work on one contract."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "ann-contract",
                    "outcome": "charged",
                    "applied": [
                        {
                            "operation_id": "94b03a89d086abf934a09533b42ad756",
                            "contract_id": "ann-contract",
                            "contract_item_id": "monthly",
                            "charge_plan": "monthly",
                            "fee": "subscription",
                            "period_start": "2026-01-15T10:00:00Z",
                            "amount": "16.45",
                            "currency": "EUR",
                            "account_id": "ann-prepaid",
                            "prorated": True,
                            "below_floor": False,
                        },
                        {
                            "operation_id": "2f6989393de4971c0dd2376f85548d96",
                            "contract_id": "ann-contract",
                            "contract_item_id": "monthly",
                            "charge_plan": "monthly",
                            "fee": "subscription",
                            "period_start": "2026-02-01T00:00:00Z",
                            "amount": "30.00",
                            "currency": "EUR",
                            "account_id": "ann-prepaid",
                            "prorated": False,
                            "below_floor": False,
                        },
                    ],
                    "suspended_items": ["monthly"],
                    "expired_items": [],
                    "more_due": False,
                    "reason": None,
                    "error": None,
                    "notifications": [
                        {
                            "kind": "fee_applied",
                            "message": "fee 'subscription' of 16.45 EUR charged for the period from 2026-01-15",
                            "data": {
                                "contract_item_id": "monthly",
                                "charge_plan": "monthly",
                                "fee": "subscription",
                                "period_start": "2026-01-15T10:00:00+00:00",
                                "amount": "16.45",
                                "currency": "EUR",
                                "account_id": "ann-prepaid",
                                "prorated": "true",
                            },
                        },
                        {
                            "kind": "fee_applied",
                            "message": "fee 'subscription' of 30.00 EUR charged for the period from 2026-02-01",
                            "data": {
                                "contract_item_id": "monthly",
                                "charge_plan": "monthly",
                                "fee": "subscription",
                                "period_start": "2026-02-01T00:00:00+00:00",
                                "amount": "30.00",
                                "currency": "EUR",
                                "account_id": "ann-prepaid",
                                "prorated": "false",
                            },
                        },
                    ],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    contract_id: str
    """The charging contract's id."""
    outcome: ContractOutcome
    """charged, unchanged, skipped (migrating or locked) or failed."""
    applied: list[FeeApplied] = []
    """The fee periods charged."""
    suspended_items: list[str] = Field(default=[], description="Contract items whose activation is suspended after the run.")
    expired_items: list[str] = Field(default=[], description="Contract items whose activation expired during the run.")
    more_due: bool = Field(default=False, description="True when the contract had more due periods than one run charges.")
    reason: str | None = Field(default=None, description="Why a contract was skipped (the error code), or failed.")
    error: dict[str, object] | None = Field(default=None, description="The error that failed the contract, in the error shape.")
    notifications: list[NotificationView] | None = Field(
        default=None,
        description="The fee_applied and low_balance notifications of the contract, in order (stored always, listed when asked for).",
    )


class FeeRunReport(_Record):
    """What one fee run did, counted over every contract; ``contracts`` lists those it charged, skipped
    or failed (at most FEE_RUN_CONTRACTS_REPORTED_MAX)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "until": "2026-06-01T12:00:00Z",
                    "contracts_seen": 1,
                    "contracts_charged": 1,
                    "fees_applied": 3,
                    "suspended_items": 1,
                    "skipped": 0,
                    "failed": 0,
                    "contracts": [example_of(ContractFeeRun)],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    until: datetime
    """Periods starting at or before this instant were due."""
    contracts_seen: int
    """Contracts with fees the run looked at."""
    contracts_charged: int
    """Contracts it charged at least one period to."""
    fees_applied: int
    """Fee periods charged."""
    suspended_items: int
    """Contract items whose activation was suspended: their payer could not cover a fee."""
    skipped: int
    """Contracts skipped (migrating or locked)."""
    failed: int
    """Contracts that failed (each with its error)."""
    contracts: list[ContractFeeRun]
    """The contracts, each with what was charged or why not (up to a bound)."""


def run_fees(until: datetime, context: ChargingContext, *, notifications: bool = False) -> FeeRunReport:
    """Charge every fee period starting at or before ``until`` that is not charged yet; ``notifications``
    lists each contract's ``fee_applied`` notifications in the report."""
    if until.tzinfo is None:
        raise InvalidError(code=Code.REQUEST_INVALID, message="the fee run's until date needs a time zone")
    if until > context.clock():
        raise InvalidError(code=Code.DATE_IN_THE_FUTURE, message=f"fees are charged up to now at most, not up to {until.isoformat()}")
    with UnitOfWork(context.engine, writes=False) as uow:
        catalog = context.catalogs.current(uow).catalog
    runs: list[ContractFeeRun] = []
    seen, after = 0, ""
    while True:
        with UnitOfWork(context.engine, writes=False) as uow:
            page = uow.activations.contract_ids_after(after, limit=CONTRACTS_PER_PAGE)
        if not page:
            break
        for contract_id in page:
            seen += 1
            run = _run_contract_safely(contract_id, until, catalog, context)
            runs.append(run.model_copy(update={"notifications": (run.notifications or []) if notifications else None}))
        after = page[-1]
    return _report(until, seen, runs)


def _report(until: datetime, seen: int, runs: list[ContractFeeRun]) -> FeeRunReport:
    worth_telling = [run for run in runs if run.outcome is not ContractOutcome.NOTHING_DUE or run.suspended_items]
    return FeeRunReport(
        until=until,
        contracts_seen=seen,
        contracts_charged=sum(1 for run in runs if run.outcome is ContractOutcome.CHARGED),
        fees_applied=sum(len(run.applied) for run in runs),
        suspended_items=sum(len(run.suspended_items) for run in runs),
        skipped=sum(1 for run in runs if run.outcome is ContractOutcome.SKIPPED),
        failed=sum(1 for run in runs if run.outcome is ContractOutcome.FAILED),
        contracts=worth_telling[: limits.FEE_RUN_CONTRACTS_REPORTED_MAX],
    )


def _run_contract_safely(contract_id: str, until: datetime, catalog: Catalog, context: ChargingContext) -> ContractFeeRun:
    """One contract's fee run; a refusal or a busy database fails this contract only."""
    try:
        try:
            return _run_contract(contract_id, until, catalog, context)
        except sa.exc.IntegrityError:
            # Another run charged one of these periods first and committed; its rows are visible now.
            return _run_contract(contract_id, until, catalog, context)
    except KopekError as error:
        return ContractFeeRun(contract_id=contract_id, outcome=ContractOutcome.FAILED, reason=error.code.value, error=error.as_dict())
    except sa.exc.OperationalError as error:
        if not is_transient(error):
            raise
        busy = TemporaryIllegalStateError(code=Code.STORAGE_BUSY, message="the contract is busy; the next run retries it")
        return ContractFeeRun(contract_id=contract_id, outcome=ContractOutcome.FAILED, reason=busy.code.value, error=busy.as_dict())


@dataclass(frozen=True, slots=True)
class _FeeItem:
    """A contract item whose plan has fees, with the plan version that lists them."""

    position: int
    item: ContractItem
    plan: ChargePlan


@dataclass(slots=True)
class _Run:
    """The mutable state of one contract's run, inside its unit of work."""

    contract: Contract
    accounts: dict[AccountId, Account]
    reserved: dict[AccountId, Decimal]
    activations: dict[str, Activation]
    applied: list[FeeApplied] = field(default_factory=list)
    suspended: set[str] = field(default_factory=set)
    last_applied: dict[tuple[str, str], datetime] = field(default_factory=dict)
    notifications: list[NotificationView] = field(default_factory=list)
    rows: _Rows = field(default_factory=lambda: _Rows())
    current: dict[str, Activation] = field(default_factory=dict)
    """Each activation as the run's changes so far left it (``activations`` keeps them as the run found them)."""
    created: set[str] = field(default_factory=set)
    """The activations this run created whose creation is not journaled yet."""
    changes: list[ActivationChange] = field(default_factory=list)
    """The journal of the run's changes to activations, in order."""


def _may_be_due(contract_id: str, until: datetime, catalog: Catalog, context: ChargingContext) -> bool:
    """Whether the contract has a fee item whose activation has not expired, read without a lock:
    the run locks only the contracts that may owe something."""
    with UnitOfWork(context.engine, writes=False) as uow:
        contract = uow.master.contract(contract_id)
        if contract is None:
            return False
        fee_items = _fee_items(catalog, contract, until)
        expired = {key for key, record in uow.activations.activations_of(contract_id).items() if record.status is ActivationStatus.EXPIRED}
    return any(fee_item.item.id not in expired for fee_item in fee_items)


def _run_contract(contract_id: str, until: datetime, catalog: Catalog, context: ChargingContext) -> ContractFeeRun:
    if not _may_be_due(contract_id, until, catalog, context):
        return ContractFeeRun(contract_id=contract_id, outcome=ContractOutcome.NOTHING_DUE)
    with UnitOfWork(context.engine) as uow:
        contract = uow.master.contract(contract_id, lock=True)
        assert contract is not None, "the contract was listed by this run and contracts are never deleted"
        fee_items = _fee_items(catalog, contract, until)
        if not fee_items:
            return ContractFeeRun(contract_id=contract_id, outcome=ContractOutcome.NOTHING_DUE)
        if contract.status is not ContractStatus.ACTIVE:
            code = Code.CONTRACT_MIGRATING if contract.status is ContractStatus.MIGRATING else Code.CONTRACT_LOCKED
            return ContractFeeRun(contract_id=contract_id, outcome=ContractOutcome.SKIPPED, reason=code.value)
        run = _open_run(uow, contract, fee_items)
        due = _due(catalog, run, fee_items, until)
        before = dict(run.accounts)
        for fee_item, period in due[: limits.FEE_PERIODS_PER_CONTRACT_MAX]:
            if fee_item.item.id not in run.suspended:
                _charge_period(run, fee_item, period, context)
        _flush(uow, run, before)
        expired = _settle(uow, run, fee_items, until, complete=len(due) <= limits.FEE_PERIODS_PER_CONTRACT_MAX)
        uow.activations.journal(run.changes, at=context.clock())
        uow.commit()
    outcome = ContractOutcome.CHARGED if run.applied else ContractOutcome.NOTHING_DUE
    return ContractFeeRun(
        contract_id=contract_id,
        outcome=outcome,
        applied=run.applied,
        suspended_items=sorted(run.suspended),
        expired_items=expired,
        more_due=len(due) > limits.FEE_PERIODS_PER_CONTRACT_MAX,
        notifications=run.notifications,
    )


def _fee_items(catalog: Catalog, contract: Contract, until: datetime) -> list[_FeeItem]:
    """The contract items whose plan, in the version in effect at ``until``, declares fees."""
    found = []
    for position, item in enumerate(contract.items):
        plan = catalog.charge_plan(item.charge_plan, until)
        if plan is not None and plan.fees:
            found.append(_FeeItem(position, item, plan))
    return found


def _open_run(uow: UnitOfWork, contract: Contract, fee_items: list[_FeeItem]) -> _Run:
    """Lock the payers, create the missing activations, read what was charged before."""
    roles = {fee.account_role for fee_item in fee_items for fee in fee_item.plan.fees}
    payers = []
    for role in sorted(roles):
        account_id = contract.roles.get(role)
        if account_id is None:
            raise PrerequisiteMissingError(
                code=Code.ACCOUNT_ROLE_UNASSIGNED, message=f"contract {contract.id!r} assigns no account to role {role!r}"
            )
        payers.append(account_id)
    accounts = uow.master.lock_accounts(payers)
    activations = uow.activations.activations_of(contract.id)
    created_ids = set()
    for fee_item in fee_items:
        if fee_item.item.id not in activations:
            created = Activation(contract.id, fee_item.item.id, fee_item.item.id, ActivationKind.CHARGE, ActivationStatus.ACTIVE)
            uow.activations.insert_activation(created)
            activations[created.id] = created
            created_ids.add(created.id)
    reserved = uow.sessions.reserved(accounts)
    run = _Run(contract, accounts, reserved, activations, current=dict(activations), created=created_ids)
    run.last_applied = uow.activations.last_applied(contract.id)
    return run


def _due(catalog: Catalog, run: _Run, fee_items: list[_FeeItem], until: datetime) -> list[tuple[_FeeItem, DuePeriod]]:
    """Every due period of the contract, oldest first (then in contract and plan order)."""
    due: list[tuple[datetime, int, int, _FeeItem, DuePeriod]] = []
    for fee_item in fee_items:
        if run.activations[fee_item.item.id].status is ActivationStatus.EXPIRED:
            continue
        for fee_index, fee in enumerate(fee_item.plan.fees):
            # A migrated activation has no charged periods here yet: its last activation date stands for them.
            last = run.last_applied.get((fee_item.item.id, fee.name), run.activations[fee_item.item.id].last_activation_date)
            for period in due_periods(fee, run.contract, last, until):
                priced = _priced_by_version_at(catalog, fee_item, fee, period, run.contract)
                due.append((period.start, fee_item.position, fee_index, fee_item, priced))
    due.sort(key=lambda entry: entry[:3])
    return [(fee_item, period) for *_, fee_item, period in due]


def _priced_by_version_at(catalog: Catalog, fee_item: _FeeItem, fee: Fee, period: DuePeriod, contract: Contract) -> DuePeriod:
    """A period is priced by the plan version in effect at its start when that version declares the fee,
    else by the version in effect at the run's ``until`` date (which lists the fees)."""
    version = catalog.charge_plan(fee_item.plan.name, period.start)
    priced_fee = version.fee(fee.name) if version is not None else None
    if priced_fee is None or priced_fee == fee:
        return period
    return period_amount(priced_fee, period.start, contract.valid_from)


def fee_digest(contract_id: str, activation_id: str, fee: str, period_start: datetime) -> str:
    """The request hash of one fee period's operation: a digest of what the period is. A fee period is charged once
    by the primary key of ``fee_applications``; its operation takes no idempotency key, which is the clients' alone."""
    text = "\n".join((contract_id, activation_id, fee, period_start.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def _charge_period(run: _Run, fee_item: _FeeItem, period: DuePeriod, context: ChargingContext) -> None:
    fee, contract = period.fee, run.contract
    payer = contract.roles[fee.account_role]
    charged = ChargedItem(
        fee_item.item.id, fee_item.plan.name, fee.name, fee.account_role, period.amount, fee_item.plan.currency, ONE, None, fee.output
    )
    posted = _post(run, payer, charged, fee)
    current = run.current[fee_item.item.id]
    if posted is None:
        run.suspended.add(fee_item.item.id)
        _step(run, replace(current, status=ActivationStatus.SUSPENDED), period.start)
        return
    account_after, operations = posted
    run.accounts[payer] = account_after
    now, operation_id = context.clock(), context.new_id()
    applied = FeeApplied(
        operation_id=operation_id,
        contract_id=contract.id,
        contract_item_id=fee_item.item.id,
        charge_plan=fee_item.plan.name,
        fee=fee.name,
        period_start=period.start,
        amount=to_text(period.amount),
        currency=charged.currency,
        account_id=payer,
        prorated=period.prorated,
        below_floor=fee.on_insufficient_balance is InsufficientBalanceRule.BELOW_FLOOR,
    )
    # The same rule as a charge's: told once, when this period's debit crosses the threshold.
    low_balance = [
        NotificationView(kind=note.kind.value, message=note.message, data=note.data)
        for note in low_balance_notifications({payer: account_after}, operations)
    ]
    _record(run, applied, charged, operations, now, [fee_notification(applied), *low_balance])
    run.applied.append(applied)
    run.last_applied[(fee_item.item.id, fee.name)] = period.start
    last = period.start if current.last_activation_date is None else max(current.last_activation_date, period.start)
    _step(run, replace(current, status=ActivationStatus.ACTIVE, last_activation_date=last), period.start, operation_id)


def _step(run: _Run, after: Activation, effective_at: datetime, operation_id: str | None = None) -> None:
    """Journal a change of an activation, made with effect at ``effective_at`` (a restoration point rebuilds activations
    from these changes: docs/recharging.md); a creation is journaled with its first change."""
    before: Activation | None = run.current[after.id]
    if after.id in run.created:
        run.created.discard(after.id)
        before = None
    elif before == after:
        return
    run.changes.append(ActivationChange(run.contract.id, after.id, before, effective_at, operation_id))
    run.current[after.id] = after


def _post(run: _Run, payer: AccountId, charged: ChargedItem, fee: Fee) -> tuple[Account, list[AccountOperation]] | None:
    """Post one fee period to its payer; ``None`` when the payer cannot cover it and the fee's rule says suspend."""
    account = run.accounts[payer]
    if fee.on_insufficient_balance is InsufficientBalanceRule.BELOW_FLOOR:
        bounded = without_bounds(account)
    else:
        # Live session reservations hold part of the money: a fee may not spend it either.
        bounded = less_reserved(account, run.reserved.get(payer, ZERO))
    try:
        posted, operations = post_charges({payer: bounded}, [charged], [payer])
    except IllegalStateError as refusal:
        if refusal.code in _CANNOT_COVER:
            return None
        raise
    return with_bounds_of(posted[payer], account), operations


@dataclass(slots=True)
class _Rows:
    """What a contract's run writes, gathered so that each table takes one multi-row insert."""

    operations: list[dict[str, object]] = field(default_factory=list)
    fee_periods: list[dict[str, object]] = field(default_factory=list)
    charged_items: list[dict[str, object]] = field(default_factory=list)
    account_operations: list[dict[str, object]] = field(default_factory=list)
    notifications: list[dict[str, object]] = field(default_factory=list)


def _record(
    run: _Run, applied: FeeApplied, charged: ChargedItem, operations: list[AccountOperation], now: datetime, notes: list[NotificationView]
) -> None:
    contract, rows = run.contract, run.rows
    rows.operations.append(
        {
            "id": applied.operation_id,
            "idempotency_key": None,
            "request_hash": fee_digest(contract.id, applied.contract_item_id, applied.fee, applied.period_start),
            "contract_id": contract.id,
            "subscriber_account_id": contract.subscriber_account_id,
            "consumption_date": applied.period_start,
            "created_at": now,
            "sender_job_id": None,
            "session_id": None,
            "result": applied.model_dump_json(),
        }
    )
    rows.fee_periods.append(
        {
            "contract_id": contract.id,
            "activation_id": applied.contract_item_id,
            "fee": applied.fee,
            "period_start": applied.period_start,
            "operation_id": applied.operation_id,
            "amount": charged.amount,
            "currency": charged.currency,
            "applied_at": now,
        }
    )
    rows.charged_items.append(_charged_row(applied, charged))
    rows.account_operations.extend(
        {
            "account_id": operation.account_id,
            "operation_id": applied.operation_id,
            "kind": operation.kind.value,
            "amount": operation.amount,
            "balance_after": operation.balance_after,
            "currency": operation.currency,
            "created_at": now,
        }
        for operation in operations
    )
    rows.notifications.extend(
        {"operation_id": applied.operation_id, "contract_id": contract.id, "kind": note.kind, "message": note.message, "data": note.data}
        | {"created_at": now}
        for note in notes
    )
    run.notifications.extend(notes)


def _flush(uow: UnitOfWork, run: _Run, before: dict[AccountId, Account]) -> None:
    """Write the run's rows, parents first, and each changed balance once."""
    rows = run.rows
    uow.activations.insert_fee_periods(rows.operations, rows.fee_periods, rows.account_operations)
    uow.charging.insert_charged_items(rows.charged_items)
    uow.charging.insert_notifications(rows.notifications)
    for account_id, account in run.accounts.items():
        if account.balance != before[account_id].balance:
            uow.master.set_balance(account_id, account.balance)


def fee_notification(applied: FeeApplied) -> NotificationView:
    """The ``fee_applied`` notification of one charged fee period."""
    return NotificationView(
        kind=NotificationKind.FEE_APPLIED.value,
        message=f"fee {applied.fee!r} of {applied.amount} {applied.currency} charged for the period from {applied.period_start:%Y-%m-%d}",
        data={
            "contract_item_id": applied.contract_item_id,
            "charge_plan": applied.charge_plan,
            "fee": applied.fee,
            "period_start": applied.period_start.isoformat(),
            "amount": applied.amount,
            "currency": applied.currency,
            "account_id": applied.account_id,
            "prorated": str(applied.prorated).lower(),
        },
    )


def _charged_row(applied: FeeApplied, charged: ChargedItem) -> dict[str, object]:
    return {
        "operation_id": applied.operation_id,
        "contract_id": applied.contract_id,
        "contract_item_id": charged.contract_item_id,
        "item_class": FEE_ITEM_CLASS,
        "charge_plan": charged.charge_plan,
        "charge": charged.charge,
        "account_role": charged.account_role,
        "account_id": applied.account_id,
        "amount": charged.amount,
        "currency": charged.currency,
        "quantity": charged.quantity,
        "quantity_unit": None,
        "output": charged.output.value,
        "consumption_date": applied.period_start,
    }


def _settle(uow: UnitOfWork, run: _Run, fee_items: list[_FeeItem], until: datetime, *, complete: bool) -> list[str]:
    """Store each activation's new status and last activation date; return the items that expired now."""
    expired: list[str] = []
    for fee_item in fee_items:
        before = run.activations[fee_item.item.id]
        if before.status is ActivationStatus.EXPIRED:
            continue
        fees_applied = {fee: start for (item_id, fee), start in run.last_applied.items() if item_id == fee_item.item.id}
        if fee_item.item.id in run.suspended:
            status = ActivationStatus.SUSPENDED
        elif complete:
            status = settled_status(fee_item.plan.fees, run.contract, fees_applied, until)
        else:
            status = ActivationStatus.ACTIVE
        last = max(fees_applied.values(), default=before.last_activation_date)
        after = Activation(before.contract_id, before.id, before.item_id, before.kind, status, last)
        # What the periods' changes did not say (an expiry, a status settled by the run's date) takes effect at that date.
        _step(run, after, until)
        if after != before:
            uow.activations.update_activation(after)
        if status is ActivationStatus.EXPIRED:
            expired.append(fee_item.item.id)
    return expired


class ActivationView(_Record):
    """A charge activation of a contract item: its status and the start of the latest period it charged."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "monthly",
                    "contract_item_id": "monthly",
                    "kind": "charge",
                    "status": "suspended",
                    "last_activation_date": "2026-03-01T00:00:00Z",
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    id: str
    """The activation's id (a contract item's charge activation has the item's id)."""
    contract_item_id: str
    """The contract item whose charge plan applied."""
    kind: str
    """charge or refill."""
    status: str
    """active (its fees are charged when due), suspended (its payer could not cover a fee) or expired."""
    last_activation_date: datetime | None
    """The start of the last fee period charged; null when none was."""


def read_activations(contract_id: str, context: ChargingContext) -> list[ActivationView]:
    """The activations of a contract, by id."""
    with UnitOfWork(context.engine, writes=False) as uow:
        if uow.master.contract(contract_id) is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract {contract_id!r} does not exist")
        found = uow.activations.activations_of(contract_id)
    return [
        ActivationView(
            id=record.id,
            contract_item_id=record.item_id,
            kind=record.kind.value,
            status=record.status.value,
            last_activation_date=record.last_activation_date,
        )
        for record in found.values()
    ]

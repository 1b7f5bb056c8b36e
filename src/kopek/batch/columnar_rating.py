"""The vectorized path of a rating job: a chunk of a partition priced column-wise with Polars.

A chunk qualifies when its catalog and data stay within what
:mod:`kopek.rating.columnar` expresses and nothing in it needs the row path's
one-by-one decisions:

- every CDR types cleanly, has a contract, is new (no operation under its id yet) and
  falls in its contract's validity; its contract has one contract item, no parent, and
  its plan compiles;
- every payer account can be charged (holder status, currency), holds no live
  reservation and has no low-balance threshold, and every balance stays within its floor
  or credit limit over the whole chunk (so no CDR fails for money);
- stored counters hold whole base units and do not lapse.

Refusals that depend only on an item's properties (``no_access``) are handled here,
with the mode's rules (first-fail contracts skip their later CDRs). Anything else makes
:func:`rate_chunk_columnar` return ``None`` without writing; the caller then charges the
rest of the partition on the row path, which gives the same results one CDR at a time.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

from kopek.batch.cdr_outcomes import refusal
from kopek.charging.offline import (
    ChargeCommand,
    ChargeRows,
    ChargingContext,
    canonical_value,
    check_contract_chargeable,
    request_hash,
    typed_item,
    write_charge_rows,
)
from kopek.charging.rating_state import load_rating_state
from kopek.domain.accounts import OperationKind, check_chargeable
from kopek.domain.catalog import Catalog, Charge, ChargePlan, CounterScope
from kopek.domain.item import ChargeableItem, TypedItem, property_text
from kopek.domain.master import Account, AccountId, AccountKind, Contract
from kopek.errors import Code, IllegalStateError, KopekError, Reason
from kopek.money import rating_context, to_text
from kopek.rating.columnar import (
    INT,
    ColumnarPlan,
    Unsupported,
    compile_plan,
    power_of_ten_factor,
    properties_read,
    used_up_counters,
    whole,
)
from kopek.rating.outcome import CounterChange, CounterKey, NotificationKind
from kopek.store.uow import UnitOfWork


class NotColumnar(Exception):
    """This chunk needs the row path (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class ChunkRules:
    """What the job's mode asks of a chunk: first-fail or not, and the contracts that already stopped."""

    job_id: str
    first_fail: bool
    stopped: set[str | None]


class PlanCache:
    """Compiled plans by catalog version, plan name and version, and item class (``None``: not columnar)."""

    def __init__(self) -> None:
        self._plans: dict[tuple[int, str, int, str], ColumnarPlan | None] = {}

    def get(self, catalog_version: int, catalog: Catalog, plan: ChargePlan, item_class: str) -> ColumnarPlan:
        key = (catalog_version, plan.name, plan.version, item_class)
        if key not in self._plans:
            try:
                self._plans[key] = compile_plan(catalog, plan, item_class)
            except Unsupported:
                self._plans[key] = None
        found = self._plans[key]
        if found is None:
            raise NotColumnar(f"plan {plan.name!r} for {item_class!r} is not columnar")
        return found


def rate_rows_columnar(
    uow: UnitOfWork, context: ChargingContext, plans: PlanCache, rows: Sequence[Mapping[str, Any]], rules: ChunkRules
) -> list[dict[str, Any]]:
    """Charge ``rows`` (pending CDRs of one partition, in charging order) inside ``uow``; the CDRs' outcomes.

    Raises :class:`NotColumnar` before writing anything when the chunk needs the row path.
    """
    try:
        loaded = context.catalogs.current(uow)
    except KopekError as error:
        raise NotColumnar(error.message) from error
    catalog = loaded.catalog
    if uow.charging.operations_by_keys([row["id"] for row in rows]):
        raise NotColumnar("a CDR id already has an operation (a replay)")
    items = _typed(catalog, rules.job_id, rows)
    contracts = _contracts(uow, rows)
    plans_of = {contract_id: _plan_of(catalog, contract) for contract_id, contract in contracts.items()}
    for row, item in zip(rows, items, strict=True):
        contract = contracts[row["contract_id"]]
        try:
            check_contract_chargeable(contract, item.consumption_date)
        except KopekError as error:
            raise NotColumnar(error.message) from error
        if plans_of[contract.id] is not catalog.charge_plan(contract.items[0].charge_plan, item.consumption_date):
            raise NotColumnar("a plan version changes inside the chunk")
    by_name = {plan.name: plan for plan in plans_of.values()}
    pairs = {(plans_of[row["contract_id"]].name, item.item_class.name) for row, item in zip(rows, items, strict=True)}
    compiled = {(name, item_class): plans.get(loaded.version, catalog, by_name[name], item_class) for name, item_class in sorted(pairs)}
    counters = _counters(uow, catalog, contracts, plans_of)
    accounts = _accounts(uow, contracts, plans_of, compiled)
    frame = _frame(rows, items, contracts, plans_of, compiled, counters)
    frame = _refusals(frame, compiled, rules)
    frame = _priced(frame, compiled)
    now = context.clock()
    charged = frame.filter(pl.col("live"))
    operation_ids = [context.new_id() for _ in range(charged.height)]
    charged = charged.with_columns(operation_id=pl.Series(operation_ids, dtype=pl.String))
    postings = _postings(charged, compiled, contracts, accounts)
    cdr_ids = [row["id"] for row in rows]
    return _write(uow, frame, charged, items, postings, compiled, contracts, accounts, counters, now, loaded.version, rules.job_id, cdr_ids)


def _typed(catalog: Catalog, job_id: str, rows: Sequence[Mapping[str, Any]]) -> list[TypedItem]:
    items = []
    for row in rows:
        if row["contract_id"] is None:
            raise NotColumnar("a CDR has no contract")
        item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], json.loads(row["properties"]))
        try:
            items.append(typed_item(catalog, ChargeCommand(item, idempotency_key=row["id"], sender_job_id=job_id)))
        except KopekError as error:
            raise NotColumnar(error.message) from error
    return items


def _contracts(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]]) -> dict[str, Contract]:
    found = {}
    for contract_id in sorted({row["contract_id"] for row in rows}):
        contract = uow.master.contract(contract_id, lock=True)
        assert contract is not None, "a claimed CDR's contract exists (foreign key of its access)"
        if contract.parent_id is not None or len(contract.items) != 1:
            raise NotColumnar(f"contract {contract_id!r} is linked or has several items")
        found[contract_id] = contract
    return found


def _plan_of(catalog: Catalog, contract: Contract) -> ChargePlan:
    versions = catalog.charge_plan_versions(contract.items[0].charge_plan)
    if len(versions) != 1:
        raise NotColumnar(f"plan {contract.items[0].charge_plan!r} is unknown or has several versions")
    return versions[0]


@dataclass(frozen=True, slots=True)
class _Counter:
    key: CounterKey
    stored: Decimal
    """The value before the chunk (stored, or the initial value)."""
    base: int
    factor: int


def _counters(
    uow: UnitOfWork, catalog: Catalog, contracts: Mapping[str, Contract], plans_of: Mapping[str, ChargePlan]
) -> dict[tuple[str, str], _Counter]:
    """Each contract's counters before the chunk, by (contract, counter name)."""
    found = {}
    for contract_id, contract in contracts.items():
        state = load_rating_state(uow, catalog, contract)
        for spec in plans_of[contract_id].counters:
            item_id = "" if spec.scope is CounterScope.CONTRACT else contract.items[0].id
            key = CounterKey(contract_id, item_id, spec.name, spec.scope)
            life = state.lives.get(key)
            if life is not None and life.expires_at is not None:
                raise NotColumnar(f"counter {spec.name!r} of {contract_id!r} lapses")
            stored = state.counters.get(key, spec.initial)
            try:
                factor = power_of_ten_factor(spec.unit)
                base = whole(stored * factor)
            except Unsupported as error:
                raise NotColumnar(str(error)) from error
            found[(contract_id, spec.name)] = _Counter(key, stored, base, factor)
    return found


def _accounts(
    uow: UnitOfWork, contracts: Mapping[str, Contract], plans_of: Mapping[str, ChargePlan], compiled: Mapping[tuple[str, str], ColumnarPlan]
) -> dict[AccountId, Account]:
    payers = set()
    for contract_id, contract in contracts.items():
        plan = plans_of[contract_id]
        for (plan_name, _), program in compiled.items():
            if plan_name != plan.name:
                continue
            for charge in program.charges:
                account_id = contract.roles.get(charge.charge.account_role)
                if account_id is None:
                    raise NotColumnar(f"contract {contract_id!r} assigns no account to role {charge.charge.account_role!r}")
                payers.add(account_id)
    accounts = uow.master.lock_accounts(payers)
    if any(amount for amount in uow.sessions.reserved(accounts).values()):
        raise NotColumnar("a payer account holds live reservations")
    for account in accounts.values():
        try:
            check_chargeable(account)
        except KopekError as error:
            raise NotColumnar(error.message) from error
        if account.low_balance_threshold is not None:
            raise NotColumnar(f"account {account.id!r} has a low-balance threshold")
    for contract_id in contracts:
        if any(
            account.currency != plans_of[contract_id].currency
            for account in accounts.values()
            if account.id in contracts[contract_id].roles.values()
        ):
            raise NotColumnar("an account's currency differs from its plan's")
    return accounts


def _frame(
    rows: Sequence[Mapping[str, Any]],
    items: Sequence[TypedItem],
    contracts: Mapping[str, Contract],
    plans_of: Mapping[str, ChargePlan],
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    counters: Mapping[tuple[str, str], _Counter],
) -> pl.DataFrame:
    """The chunk as columns: order, ids, plan, class, quantity in base units, the properties nodes read, counters before."""
    properties = sorted({name for program in compiled.values() for name in properties_read(program)})
    counter_names = sorted({name for program in compiled.values() for name in program.counters})
    quantities = []
    for item in items:
        unit = item.item_class.quantity_unit
        quantity = unit.to_base(item.quantity) if unit is not None else item.quantity
        if quantity != quantity.to_integral_value():
            raise NotColumnar("a quantity is not a whole number of base units")
        quantities.append(int(quantity))
    contract_ids = [row["contract_id"] for row in rows]
    columns: dict[str, pl.Series] = {
        "row": pl.Series(range(len(rows)), dtype=pl.Int64),
        "contract_id": pl.Series(contract_ids, dtype=pl.String),
        "plan": pl.Series([plans_of[contract_id].name for contract_id in contract_ids], dtype=pl.String),
        "item_class": pl.Series([item.item_class.name for item in items], dtype=pl.String),
        "q": pl.Series(quantities, dtype=INT),
    }
    for name in properties:
        values = [item.properties.get(name) for item in items]
        columns[f"p:{name}"] = pl.Series([property_text(value) if value is not None else None for value in values], dtype=pl.String)
    for name in counter_names:
        bases = [counters[(contract_id, name)].base if (contract_id, name) in counters else 0 for contract_id in contract_ids]
        columns[f"c0:{name}"] = pl.Series(bases, dtype=INT)
    return pl.DataFrame(columns)


def _refusals(frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan], rules: ChunkRules) -> pl.DataFrame:
    """``frame`` with ``refusal`` (no_access message), ``status`` before pricing and ``live`` (to be charged)."""
    parts = []
    for (plan_name, item_class), program in compiled.items():
        part = frame.lazy().filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        parts.append(program.refused(part).select("row", "refusal", "unpriced"))
    marks = pl.concat(parts).sort("row").collect()
    if marks["unpriced"].any():
        raise NotColumnar("a switch or prefix has no price for an item")
    frame = frame.join(marks, on="row", how="left", maintain_order="left")
    failing = pl.col("refusal").is_not_null()
    if rules.first_fail:
        earlier = failing.cast(pl.Int64).cum_sum().over("contract_id") - failing.cast(pl.Int64)
        stopped = [contract_id for contract_id in rules.stopped if contract_id is not None]
        skipped = (earlier > 0) | pl.col("contract_id").is_in(stopped)
    else:
        skipped = pl.lit(value=False)
    frame = frame.with_columns(skipped=skipped)
    return frame.with_columns(
        status=pl.when(pl.col("skipped")).then(pl.lit("skipped")).when(failing).then(pl.lit("failed")).otherwise(pl.lit("charged")),
        live=~pl.col("skipped") & ~failing,
    )


def _priced(frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan]) -> pl.DataFrame:
    parts = []
    for (plan_name, item_class), program in compiled.items():
        part = frame.lazy().filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        keep = [f"a{charge.index}" for charge in program.charges]
        keep += [f"m:{name}" for charge in program.charges for name in charge.dynamic.moves]
        keep += [f"u:{name}" for name in used_up_counters(program)]
        parts.append(program.priced(part).select("row", *keep))
    result = pl.concat(parts, how="diagonal_relaxed").sort("row").collect()
    return frame.join(result, on="row", how="left", maintain_order="left")


@dataclass(frozen=True, slots=True)
class _Posting:
    """One charged item of one charged CDR, posted to its payer."""

    row: int
    charge_index: int
    account_id: AccountId
    amount: Decimal
    balance_after: Decimal | None
    """None: a zero amount, no account operation."""


def _postings(
    charged: pl.DataFrame,
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    contracts: Mapping[str, Contract],
    accounts: Mapping[AccountId, Account],
) -> dict[int, list[_Posting]]:
    """Each charged CDR's postings, with balances run in charging order; :class:`NotColumnar` if one crosses a bound."""
    long_parts = []
    for (plan_name, item_class), program in compiled.items():
        part = charged.filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        for charge in program.charges:
            decimals = charge.charge.rounding.decimals
            long_parts.append(
                part.select(
                    "row",
                    "contract_id",
                    pl.lit(charge.index, pl.Int64).alias("charge_index"),
                    pl.lit(charge.charge.account_role).alias("role"),
                    pl.col(f"a{charge.index}").alias("units"),
                    pl.lit(decimals, pl.Int64).alias("decimals"),
                )
            )
    if not long_parts:
        return {}
    postings = pl.concat(long_parts).sort("row", "charge_index")
    roles = pl.DataFrame(
        [(contract_id, role, account_id) for contract_id, contract in contracts.items() for role, account_id in contract.roles.items()],
        schema={"contract_id": pl.String, "role": pl.String, "account_id": pl.String},
        orient="row",
    )
    postings = postings.join(roles, on=["contract_id", "role"], how="left", maintain_order="left")
    scale = max(
        [int(str(postings["decimals"].max() or 0))]
        + [_scale(account.balance) for account in accounts.values()]
        + [_bounds_scale(account) for account in accounts.values()]
    )
    postings = postings.with_columns(scaled=pl.col("units") * pl.lit(10, INT).pow(pl.lit(scale) - pl.col("decimals")).cast(INT))
    moving = postings.filter(pl.col("units") != 0)
    moving = moving.with_columns(spent=pl.col("scaled").cum_sum().over("account_id"))
    result: dict[int, list[_Posting]] = {}
    after_by_key: dict[tuple[int, int], Decimal] = {}
    with decimal.localcontext(rating_context()):
        for account_id, group in moving.group_by("account_id", maintain_order=True):
            account = accounts[AccountId(str(account_id[0]))]
            start = whole(account.balance.scaleb(scale))
            sign = -1 if account.kind is AccountKind.PREPAID else 1
            spent = group["spent"].to_list()
            afters = [start + sign * value for value in spent]
            _check_bounds(account, afters, scale)
            exponent = account.balance.as_tuple().exponent
            assert isinstance(exponent, int)
            places = -exponent if exponent < 0 else 0
            for row, charge_index, decimals, after in zip(group["row"], group["charge_index"], group["decimals"], afters, strict=True):
                places = max(places, decimals)
                after_by_key[(row, charge_index)] = Decimal(after).scaleb(-scale).quantize(Decimal(1).scaleb(-places))
    for row, charge_index, account_id, units, decimals in postings.select(
        "row", "charge_index", "account_id", "units", "decimals"
    ).iter_rows():
        amount = Decimal(units).scaleb(-decimals)
        result.setdefault(row, []).append(_Posting(row, charge_index, AccountId(account_id), amount, after_by_key.get((row, charge_index))))
    return result


def _scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "balances are finite"
    return max(0, -exponent)


def _bounds_scale(account: Account) -> int:
    bounds = [value for value in (account.floor, account.credit_limit) if value is not None and value.is_finite()]
    return max((_scale(value) for value in bounds), default=0)


def _check_bounds(account: Account, afters: list[int], scale: int) -> None:
    if account.kind is AccountKind.PREPAID:
        if account.floor.is_finite() and min(afters) < whole(account.floor.scaleb(scale)):
            raise NotColumnar(f"prepaid account {account.id!r} would go below its floor")
    elif account.credit_limit is not None and max(afters) > whole(account.credit_limit.scaleb(scale)):
        raise NotColumnar(f"postpaid account {account.id!r} would exceed its credit limit")


def _write(
    uow: UnitOfWork,
    frame: pl.DataFrame,
    charged: pl.DataFrame,
    items: Sequence[TypedItem],
    postings: Mapping[int, list[_Posting]],
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    contracts: Mapping[str, Contract],
    accounts: Mapping[AccountId, Account],
    counters: Mapping[tuple[str, str], _Counter],
    now: datetime,
    catalog_version: int,
    job_id: str,
    cdr_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """Store the chunk's charges as the row path stores them; the CDRs' outcomes."""
    rows = ChargeRows()
    balances = {account_id: account.balance for account_id, account in accounts.items()}
    used_up = {key: used_up_counters(program) for key, program in compiled.items()}
    flags = [column for column in charged.columns if column.startswith("u:")]
    operation_of: dict[int, str] = {}
    results = _Results(catalog_version, now, job_id)
    for record in charged.select("row", "operation_id", "contract_id", "plan", *flags).iter_rows(named=True):
        row, operation_id, contract = record["row"], record["operation_id"], contracts[record["contract_id"]]
        item = items[row]
        operation_of[row] = operation_id
        program = compiled[(record["plan"], item.item_class.name)]
        posted = postings.get(row, [])
        charged_items, operations = [], []
        for posting in posted:
            charge = program.charges[[c.index for c in program.charges].index(posting.charge_index)].charge
            charged_items.append(_charged_item(operation_id, contract, item, charge, posting, program.plan))
            if posting.balance_after is not None:
                balances[posting.account_id] = posting.balance_after
                operations.append(_account_operation(accounts[posting.account_id], posting, operation_id, now))
        notes = [
            {"kind": NotificationKind.ALLOWANCE_EXHAUSTED.value, "message": f"allowance {name!r} is used up", "data": {"counter": name}}
            for name in used_up[(record["plan"], item.item_class.name)]
            if record[f"u:{name}"]
        ]
        payers = sorted({posting.account_id for posting in posted})
        account_info = [_account_view(accounts[payer], balances[payer]) for payer in payers]
        result = results.json(operation_id, cdr_ids[row], contract, item, charged_items, operations, account_info, notes)
        rows.operations.append(
            {
                "id": operation_id,
                "idempotency_key": cdr_ids[row],
                "request_hash": request_hash(item),
                "contract_id": contract.id,
                "subscriber_account_id": contract.subscriber_account_id,
                "consumption_date": item.consumption_date,
                "created_at": now,
                "sender_job_id": job_id,
                "session_id": None,
                "result": result,
            }
        )
        rows.charged_items.extend(charged_items)
        rows.account_operations.extend(operations)
        rows.notifications.extend({"operation_id": operation_id, "contract_id": contract.id, "created_at": now} | note for note in notes)
    rows.balances.update({account_id: balance for account_id, balance in balances.items() if balance is not accounts[account_id].balance})
    rows.counter_changes.update((change.key, change) for change in _counter_changes(charged, counters, compiled))
    write_charge_rows(uow, rows)
    return _outcomes(frame, operation_of, cdr_ids)


def _charged_item(
    operation_id: str, contract: Contract, item: TypedItem, charge: Charge, posting: _Posting, plan: ChargePlan
) -> dict[str, Any]:
    unit = item.item_class.quantity_unit
    return {
        "operation_id": operation_id,
        "contract_id": contract.id,
        "contract_item_id": contract.items[0].id,
        "item_class": item.item_class.name,
        "charge_plan": plan.name,
        "charge": charge.name,
        "account_role": charge.account_role,
        "account_id": posting.account_id,
        "amount": posting.amount,
        "currency": plan.currency,
        "quantity": item.quantity,
        "quantity_unit": unit.value if unit else None,
        "output": charge.output.value,
        "consumption_date": item.consumption_date,
    }


def _account_operation(account: Account, posting: _Posting, operation_id: str, at: datetime) -> dict[str, Any]:
    prepaid = account.kind is AccountKind.PREPAID
    return {
        "account_id": account.id,
        "operation_id": operation_id,
        "kind": (OperationKind.DEBIT if prepaid else OperationKind.ACCUMULATION).value,
        "amount": -posting.amount if prepaid else posting.amount,
        "balance_after": posting.balance_after,
        "currency": account.currency,
        "created_at": at,
    }


def _account_view(account: Account, balance: Decimal) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "subscriber_account_id": account.subscriber_account_id,
        "kind": account.kind.value,
        "currency": account.currency,
        "balance": balance,
        "floor": account.floor,
        "credit_limit": account.credit_limit,
        "low_balance_threshold": account.low_balance_threshold,
    }


class _Results:
    """The stored result of each charge, with every section (as ``charge_result`` gives it), for idempotent replays.

    Built as JSON text directly: the parts shared by the chunk (process info, each
    contract) are encoded once.
    """

    def __init__(self, catalog_version: int, now: datetime, job_id: str) -> None:
        charged_at, job = json.dumps(now.isoformat()), json.dumps(job_id)
        self._process = f',"catalog_version":{catalog_version},"charged_at":{charged_at},"sender_job_id":{job}'
        self._contracts: dict[str, str] = {}

    def _contract(self, contract: Contract) -> str:
        found = self._contracts.get(contract.id)
        if found is None:
            found = json.dumps(
                {
                    "contract_id": contract.id,
                    "subscriber_account_id": contract.subscriber_account_id,
                    "status": contract.status.value,
                    "valid_from": contract.valid_from.isoformat(),
                    "valid_to": contract.valid_to.isoformat() if contract.valid_to else None,
                    "parent_id": contract.parent_id,
                }
            )
            self._contracts[contract.id] = found
        return found

    def json(
        self,
        operation_id: str,
        idempotency_key: str,
        contract: Contract,
        item: TypedItem,
        charged_items: list[dict[str, Any]],
        operations: list[dict[str, Any]],
        account_info: list[dict[str, Any]],
        notes: list[dict[str, Any]],
    ) -> str:
        operation = json.dumps(operation_id)
        item_info = {
            "item_class": item.item_class.name,
            "consumption_date": item.consumption_date.isoformat(),
            "service_id": item.service_id,
            "user_id": item.user_id,
            "properties": {name: canonical_value(value) for name, value in item.properties.items()},
        }
        sections = {
            "charged_items": [{key: _plain(row[key]) for key in _VIEW_FIELDS} for row in charged_items],
            "account_operations": [{key: _plain(operation[key]) for key in _OPERATION_FIELDS} for operation in operations],
            "account_info": [{key: _plain(value) for key, value in view.items()} for view in account_info],
            "notifications": notes,
        }
        return (
            f'{{"operation_id":{operation},"charging_process_info":{{"operation_id":{operation}{self._process},'
            f'"idempotency_key":{json.dumps(idempotency_key)},"replayed":false}},"contract_info":{self._contract(contract)},'
            f'"chargeable_item_info":{json.dumps(item_info)},{json.dumps(sections)[1:]}'
        )


_VIEW_FIELDS = (
    "contract_item_id",
    "charge_plan",
    "charge",
    "account_role",
    "account_id",
    "amount",
    "currency",
    "quantity",
    "quantity_unit",
    "output",
)
_OPERATION_FIELDS = ("account_id", "kind", "amount", "balance_after", "currency")


def _plain(value: object) -> object:
    return to_text(value) if isinstance(value, Decimal) else value


def _counter_changes(
    charged: pl.DataFrame, counters: Mapping[tuple[str, str], _Counter], compiled: Mapping[tuple[str, str], ColumnarPlan]
) -> list[CounterChange]:
    """Each counter the chunk moved: its value before the chunk and after it."""
    moves = [column for column in charged.columns if column.startswith("m:")]
    flags = [column for column in charged.columns if column.startswith("u:")]
    if not moves or charged.height == 0:
        return []
    totals = charged.group_by("contract_id").agg(
        [pl.col(column).fill_null(0).sum() for column in moves] + [pl.col(column).fill_null(value=False).any() for column in flags]
    )
    specs = {name: spec for program in compiled.values() for name, spec in program.counters.items()}
    changes = []
    with decimal.localcontext(rating_context()):
        for record in totals.iter_rows(named=True):
            for column in moves:
                name = column[2:]
                counter = counters.get((record["contract_id"], name))
                move = record[column]
                if counter is None or not move:
                    continue
                used_up = bool(record.get(f"u:{name}"))
                after = Decimal(0) if used_up else counter.stored + Decimal(move) / counter.factor
                if after != counter.stored:
                    changes.append(CounterChange(counter.key, specs[name].unit, counter.stored, after, None, None))
    return changes


def _outcomes(frame: pl.DataFrame, operation_of: Mapping[int, str], cdr_ids: Sequence[str]) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    for row, status, message in frame.select("row", "status", "refusal").iter_rows():
        if status == "charged":
            outcomes.append({"id": cdr_ids[row], "status": "charged", "operation_id": operation_of[row]})
        elif status == "skipped":
            outcomes.append({"id": cdr_ids[row], "status": "skipped"})
        else:
            error = IllegalStateError(code=Code.SERVICE_NOT_ACCESSIBLE, reason=Reason.NOT_AUTHORIZED, message=message)
            outcomes.append({"id": cdr_ids[row]} | refusal(error))
    return outcomes

"""The vectorized path of a rating job: a chunk of a partition priced column-wise with Polars.

A chunk qualifies when its catalog and data stay within what
:mod:`kopek.rating.columnar` expresses and nothing in it needs the row path's
one-by-one decisions:

- every CDR types cleanly, has a contract, is new (no operation under its id yet) and
  falls in its contract's validity; its contract has one item whose plan prices its
  class (:func:`_pricing`), and that plan compiles;
- every payer account can be charged (holder status, currency) and holds no live
  reservation, and every balance stays within its floor or credit limit over the whole
  chunk (so no CDR fails for money); a prepaid balance crossing its low-balance threshold
  notifies as the row path does, from the running balances;
- stored counters hold whole base units (a cap's counter: whole units of its cap's
  denominator) and do not lapse; each item's reset period of each counter, and the
  counter's value when that period started, are laid out as columns from the counter's
  cycle (:func:`_periods`);
- a counter is read and moved where the row path reads and moves it (its **owner**,
  :func:`_owner`): a linked contract's contract counter that its parent's plans declare is
  the parent's, a counter of scope ``shared`` is the one of its namespace, whichever
  contract's CDR moves it. Every plan of the chunk that binds a counter to one owner
  declares it alike (:func:`_counters_from`). The contracts that share a counter are in
  one partition (:mod:`kopek.batch.partitions`), so the chunk holds, in charging order,
  every CDR that moves it.

Refusals that depend only on an item's properties (``no_access``) are handled here,
with the mode's rules (first-fail contracts skip their later CDRs). Anything else makes
:func:`rate_rows_columnar` raise :class:`NotColumnar` (with a :class:`FallbackReason`,
counted with the job) before it writes anything; the caller then charges the rest of the
partition on the row path, which gives the same results one CDR at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from kopek.batch.columnar_items import QuantityTooLarge, Untyped, typed_columns, typed_rows
from kopek.batch.columnar_rows import ChunkFacts, store, store_journal
from kopek.charging.offline import (
    ChargeRows,
    ChargingContext,
    check_contract_chargeable,
    write_charge_rows,
)
from kopek.charging.rating_state import shared_counters_of
from kopek.clock import new_ids
from kopek.domain.accounts import check_chargeable
from kopek.domain.catalog import Catalog, ChargePlan, CounterScope, CounterSpec
from kopek.domain.item import TypedItem
from kopek.domain.master import Account, AccountId, Contract, ContractStatus
from kopek.domain.periods import Cycle
from kopek.errors import KopekError
from kopek.money import exact
from kopek.rating.columnar import (
    INT,
    ColumnarPlan,
    Unsupported,
    base_factor,
    compile_plan,
    epoch_column,
    notices,
    owner_column,
    properties_read,
    reached_counters,
    used_up_counters,
    whole,
)
from kopek.rating.columnar_counters import NO_PERIOD, StoredCounter, counter_moves, period_key, period_of_key
from kopek.rating.columnar_postings import BoundCrossed, postings
from kopek.rating.columnar_schedules import ScheduleTooFine
from kopek.rating.outcome import CounterKey, NotificationKind
from kopek.rating.state import CounterLife
from kopek.store.cdr_store import new_chunk_id
from kopek.store.counter_store import SharedCounterSpec
from kopek.store.uow import UnitOfWork


class FallbackReason(StrEnum):
    """Why CDRs took the row path: counted with the job (``kopek jobs status``), one code per kind of cause."""

    ROW_PATH_REQUESTED = "row_path_requested"
    """The job was run with ``--path row``."""
    ALL_OR_NOTHING_MODE = "all_or_nothing_mode"
    """``SUBSCRIPTION_TRY`` charges a contract in one transaction, one CDR at a time."""
    NO_CATALOG = "no_catalog"
    CDR_INVALID = "cdr_invalid"
    """A CDR does not type against its class (or its class is unknown): the row path refuses it."""
    CDR_WITHOUT_CONTRACT = "cdr_without_contract"
    """No access was found for a CDR: the row path refuses it."""
    CONTRACT_NOT_CHARGEABLE = "contract_not_chargeable"
    """A contract is out of its validity, locked, or its plan not in effect at a CDR's date."""
    LINKED_CONTRACT = "linked_contract"
    """A contract has a parent: a recharge's items (batch jobs take linked contracts; older jobs' paths may name it)."""
    SEVERAL_CONTRACT_ITEMS = "several_contract_items"
    SESSION_GRANT = "session_grant"
    """A live session's grant holds a counter of a contract, of its parent or of its plans' shared namespaces."""
    PLAN_NOT_COLUMNAR = "plan_not_columnar"
    """A plan uses what the vectorized path does not express (a cap over a counter in tiers, a per_activation reset, ...)."""
    COUNTER_NOT_COLUMNAR = "counter_not_columnar"
    """A stored counter lapses, holds a fraction of a base unit (of its cap's denominator, for a cap's counter), or was
    stored before it had reset periods; or two plans declare a counter they keep in one place otherwise, or count it in
    other denominators."""
    ACCOUNT_NOT_COLUMNAR = "account_not_columnar"
    """A payer account is not chargeable, holds live reservations or another currency."""
    FRACTIONAL_QUANTITY = "fractional_quantity"
    INTEGER_BOUND = "integer_bound"
    """Quantities, amounts or balances too large for the integer form (Int128)."""
    UNPRICED_ITEM = "unpriced_item"
    """A switch or prefix without a default has no price for an item: the row path words that refusal."""
    BALANCE_BOUND = "balance_bound"
    """A balance would leave its floor or credit limit: the row path decides which CDR fails."""
    SCHEDULE_PARTS = "schedule_parts"
    """A usage is cut by a schedule into a part with a fraction of a second, or crosses more edges than a usage may."""


class NotColumnar(Exception):
    """This chunk needs the row path: why (``reason``) and in words (the message)."""

    def __init__(self, reason: FallbackReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
            raise NotColumnar(FallbackReason.PLAN_NOT_COLUMNAR, f"plan {plan.name!r} for {item_class!r} is not columnar")
        return found


def rate_rows_columnar(uow: UnitOfWork, context: ChargingContext, plans: PlanCache, cdrs: pl.DataFrame, rules: ChunkRules) -> set[str]:
    """Charge ``cdrs`` (pending CDRs of partitions, in charging order, as :meth:`CdrStore.pending_columns` reads them)
    and store their outcomes inside ``uow``; the contracts with a CDR now failed or skipped.

    Raises :class:`NotColumnar` before writing anything when the chunk needs the row path.
    """
    try:
        loaded = context.catalogs.current(uow)
    except KopekError as error:
        raise NotColumnar(FallbackReason.NO_CATALOG, error.message) from error
    catalog = loaded.catalog
    typed = _typed(catalog, cdrs)
    contracts = _contracts(uow, typed)
    parents = _parents(uow, contracts)
    plans_of = {contract_id: _plans_of(catalog, contract) for contract_id, contract in (contracts | parents).items()}
    shared = _shared_counters(catalog, contracts)
    _check_grants(uow, contracts | parents, shared)
    _check_spans(typed, contracts, plans_of)
    chosen = _pricing(typed, plans_of)
    compiled = _compiled(plans, loaded.version, catalog, chosen)
    counters = _counters(uow, contracts, parents, plans_of, shared, _scales(compiled))
    accounts = _accounts(uow, contracts, plans_of, compiled)
    frame = _frame(typed, chosen, compiled, counters)
    frame = _refusals(frame, compiled, rules)
    frame = _priced_in_order(frame, compiled, counters)
    charged = frame.filter(pl.col("live"))
    charged = charged.with_columns(operation_id=pl.Series(new_ids(context.new_id, charged.height), dtype=pl.String))
    try:
        posted = postings(charged, compiled, contracts, accounts)
    except (BoundCrossed, Unsupported) as error:
        reason = FallbackReason.BALANCE_BOUND if isinstance(error, BoundCrossed) else FallbackReason.INTEGER_BOUND
        raise NotColumnar(reason, str(error)) from error
    facts = ChunkFacts(context.clock(), new_chunk_id(rules.job_id, context.new_id))
    moves = counter_moves(charged, counters)
    notes = _notifications(charged, compiled)
    # As a charge's outcome: allowances used up, then thresholds crossed, then low balances (charge_in adds them last).
    for found in (moves.crossings, posted.low_balances):
        for row, crossed in found.items():
            notes.setdefault(row, []).extend({"kind": note.kind.value, "message": note.message, "data": note.data} for note in crossed)
    store(uow, frame, charged, posted, facts)
    store_journal(uow, moves, charged, facts)
    rest = ChargeRows()
    rest.balances.update(posted.balances)
    rest.counter_changes.update(moves.changes)
    noted = charged.filter(pl.col("row").is_in(list(notes))).select("row", "operation_id", "contract_id")
    charge_of = {row: (operation_id, contract_id) for row, operation_id, contract_id in noted.iter_rows()}
    rest.notifications.extend(
        {"operation_id": charge_of[row][0], "contract_id": charge_of[row][1], "created_at": facts.now} | note
        for row, found in notes.items()
        for note in found
    )
    write_charge_rows(uow, rest)
    return set(frame.filter(pl.col("status") != "charged")["contract_id"].to_list())


def _check_spans(typed: pl.DataFrame, contracts: Mapping[str, Contract], plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]]) -> None:
    """Every CDR falls in its contract's validity (an interval: checking its first and last CDR is enough), its contract
    can be charged, and its plans' only versions (and its parent's, for a linked contract) are in effect at its date."""
    spans = typed.group_by("contract_id", maintain_order=True).agg(
        first=pl.col("consumption_date").min(), last=pl.col("consumption_date").max()
    )
    for contract_id, first, last in spans.iter_rows():
        contract = contracts[contract_id]
        try:
            check_contract_chargeable(contract, first)
            check_contract_chargeable(contract, last)
        except KopekError as error:
            raise NotColumnar(FallbackReason.CONTRACT_NOT_CHARGEABLE, error.message) from error
        # A linked contract's CDR reads its parent's plans too (the counters they declare).
        parent_plans = plans_of[contract.parent_id] if contract.parent_id is not None else ()
        for _, plan in [*plans_of[contract_id], *parent_plans]:
            if plan.effective_from is not None and first.astimezone(UTC).date() < plan.effective_from:
                raise NotColumnar(FallbackReason.CONTRACT_NOT_CHARGEABLE, f"plan {plan.name!r} is not in effect at every CDR's date")


def _typed(catalog: Catalog, cdrs: pl.DataFrame) -> pl.DataFrame:
    """The chunk typed column-wise, as a single charge types each CDR (:func:`kopek.batch.columnar_items.typed_columns`)."""
    if cdrs["contract_id"].null_count():
        raise NotColumnar(FallbackReason.CDR_WITHOUT_CONTRACT, "a CDR has no contract")
    try:
        return typed_columns(catalog, cdrs)
    except Untyped as error:
        raise NotColumnar(FallbackReason.CDR_INVALID, str(error)) from error
    except QuantityTooLarge as error:
        raise NotColumnar(FallbackReason.INTEGER_BOUND, str(error)) from error


def _contracts(uow: UnitOfWork, typed: pl.DataFrame) -> dict[str, Contract]:
    """The chunk's contracts, locked (linked contracts first, as single charges lock them)."""
    return uow.master.contracts(set(typed["contract_id"].unique().to_list()), lock=True)


def _parents(uow: UnitOfWork, contracts: Mapping[str, Contract]) -> dict[str, Contract]:
    """The parents of the chunk's linked contracts, locked after the chunk's contracts (a single charge locks a linked
    contract, then its parent); those with CDRs in the chunk are among ``contracts`` already."""
    wanted = {contract.parent_id for contract in contracts.values() if contract.parent_id is not None}
    found = {parent_id: contracts[parent_id] for parent_id in wanted if parent_id in contracts}
    return found | uow.master.contracts(wanted - found.keys(), lock=True)


def _shared_counters(catalog: Catalog, contracts: Mapping[str, Contract]) -> list[SharedCounterSpec]:
    """The shared counters the chunk's contracts' plans declare, in the order the row path locks them."""
    found = {(spec.namespace, spec.name): spec for contract in contracts.values() for spec in shared_counters_of(catalog, contract)}
    return [found[key] for key in sorted(found)]


def _check_grants(uow: UnitOfWork, contracts: Mapping[str, Contract], shared: Sequence[SharedCounterSpec]) -> None:
    """Counters read column-wise are the stored values; the row path prices on top of what live grants hold."""
    if uow.sessions.holds_on(contracts, namespaces=[spec.namespace for spec in shared]):
        raise NotColumnar(FallbackReason.SESSION_GRANT, "a live session's grant holds a counter of a contract")


def _plans_of(catalog: Catalog, contract: Contract) -> list[tuple[str, ChargePlan]]:
    """Each item of ``contract`` with its plan's only version."""
    found: list[tuple[str, ChargePlan]] = []
    for contract_item in contract.items:
        versions = catalog.charge_plan_versions(contract_item.charge_plan)
        if len(versions) != 1:
            raise NotColumnar(FallbackReason.PLAN_NOT_COLUMNAR, f"plan {contract_item.charge_plan!r} is unknown or has several versions")
        found.append((contract_item.id, versions[0]))
    return found


Chosen = dict[tuple[str, str], tuple[str, ChargePlan]]
"""The contract item, and its plan, that prices each (contract, item class) of a chunk."""


def _pricing(typed: pl.DataFrame, plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]]) -> Chosen:
    """The contract item, and its plan, that prices each contract's CDRs of a class: the one item of its contract whose
    plan has charges for that class (a contract may hold several items, each pricing other classes)."""
    chosen: Chosen = {}
    for key in typed.select("contract_id", "item_class").unique().sort("contract_id", "item_class").iter_rows():
        candidates = [(item_id, plan) for item_id, plan in plans_of[key[0]] if any(c.item_class == key[1] for c in plan.charges)]
        if len(candidates) != 1:
            reason = FallbackReason.SEVERAL_CONTRACT_ITEMS if candidates else FallbackReason.PLAN_NOT_COLUMNAR
            raise NotColumnar(reason, f"{len(candidates)} items of contract {key[0]!r} price {key[1]!r}")
        chosen[key] = candidates[0]
    return chosen


def _compiled(plans: PlanCache, version: int, catalog: Catalog, chosen: Chosen) -> dict[tuple[str, str], ColumnarPlan]:
    """The compiled plan of each (plan, item class) the chunk prices."""
    pairs = {(plan.name, item_class): plan for (_, item_class), (_, plan) in chosen.items()}
    return {(name, item_class): plans.get(version, catalog, pairs[(name, item_class)], item_class) for name, item_class in sorted(pairs)}


def _counters(
    uow: UnitOfWork,
    contracts: Mapping[str, Contract],
    parents: Mapping[str, Contract],
    plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]],
    shared: Sequence[SharedCounterSpec],
    scales: Mapping[str, int],
) -> dict[tuple[str, str], StoredCounter]:
    """Each contract's counters before the chunk, by (contract, counter name): its own, its parent's and the shared
    ones (locked, after the contracts, as the row path locks them)."""
    values, lives = uow.counters.of_contracts(sorted(contracts.keys() | parents.keys()))
    shared_values, shared_lives = uow.counters.lock_shared(shared)
    return _counters_from(values | shared_values, lives | shared_lives, contracts, plans_of, scales)


def _scales(compiled: Mapping[tuple[str, str], ColumnarPlan]) -> dict[str, int]:
    """Per counter name, how many of the frame's units make one base unit (a cap's counter counts in its
    denominator): one for every plan of the chunk that declares the counter, else the chunk takes the row path."""
    found: dict[str, int] = {}
    for program in compiled.values():
        for name, scale in program.scales.items():
            if found.setdefault(name, scale) != scale:
                raise NotColumnar(FallbackReason.COUNTER_NOT_COLUMNAR, f"counter {name!r} is counted in other units by two plans")
    return found


def _counters_from(
    values: Mapping[CounterKey, Any],
    lives: Mapping[CounterKey, CounterLife],
    contracts: Mapping[str, Contract],
    plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]],
    scales: Mapping[str, int],
) -> dict[tuple[str, str], StoredCounter]:
    """Each contract's counters from ``values`` and ``lives`` (stored or restored), by (contract, counter name), in
    ``scales`` of their base units (by name, one when not given); the contracts that share a counter (a linked
    contract and its parent, a shared namespace) share its :class:`StoredCounter`."""
    found: dict[tuple[str, str], StoredCounter] = {}
    owners: dict[CounterKey, tuple[CounterSpec, StoredCounter]] = {}
    for contract_id, contract in contracts.items():
        inherited = _inherited(contract, plans_of)
        for contract_item_id, plan in plans_of[contract_id]:
            for spec in plan.counters:
                if (contract_id, spec.name) in found:
                    message = f"two items of contract {contract_id!r} have a counter {spec.name!r}"
                    raise NotColumnar(FallbackReason.SEVERAL_CONTRACT_ITEMS, message)
                key, owner_spec = _owner(contract, contract_item_id, spec, inherited)
                known = owners.get(key)
                if known is None:
                    known = owners[key] = (owner_spec, _stored_counter(key, owner_spec, values, lives, scales.get(spec.name, 1)))
                # The compiled plan reads bounds and moves in its own spec's unit; the stored counter is the owner's.
                if spec.unit != owner_spec.unit or _meaning(known[0]) != _meaning(owner_spec):
                    message = f"counter {spec.name!r} of {contract_id!r} is declared otherwise where it is kept"
                    raise NotColumnar(FallbackReason.COUNTER_NOT_COLUMNAR, message)
                found[(contract_id, spec.name)] = known[1]
    return found


def _inherited(contract: Contract, plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]]) -> dict[str, CounterSpec]:
    """The contract counters a linked contract takes from its parent: those its parent's plans declare (the first
    item's, as the row path binds them)."""
    declared: dict[str, CounterSpec] = {}
    if contract.parent_id is not None:
        for _, plan in plans_of[contract.parent_id]:
            for spec in plan.counters:
                if spec.scope is CounterScope.CONTRACT:
                    declared.setdefault(spec.name, spec)
    return declared


def _owner(
    contract: Contract, contract_item_id: str, spec: CounterSpec, inherited: Mapping[str, CounterSpec]
) -> tuple[CounterKey, CounterSpec]:
    """Where counter ``spec`` of a contract item lives, and the spec it is kept by there (as the row path binds it)."""
    if spec.scope is CounterScope.CONTRACT and contract.parent_id is not None and spec.name in inherited:
        return CounterKey(contract.parent_id, "", spec.name, CounterScope.CONTRACT), inherited[spec.name]
    if spec.scope is CounterScope.SHARED:
        assert spec.namespace is not None, "a shared counter has a namespace (validated on load)"
        return CounterKey("", "", spec.name, CounterScope.SHARED, spec.namespace), spec
    item_id = "" if spec.scope is CounterScope.CONTRACT else contract_item_id
    return CounterKey(contract.id, item_id, spec.name, spec.scope), spec


def _meaning(spec: CounterSpec) -> dict[str, Any]:
    """What a counter's spec means to rating (all but its description)."""
    return spec.model_dump(exclude={"description"})


def _stored_counter(
    key: CounterKey, spec: CounterSpec, values: Mapping[CounterKey, Any], lives: Mapping[CounterKey, Any], scale: int
) -> StoredCounter:
    """Counter ``spec``, kept at ``key``, before the chunk, in ``1 / scale`` of its base unit."""
    owner = key.contract_id or key.namespace
    life = lives.get(key)
    if life is not None and life.expires_at is not None:
        raise NotColumnar(FallbackReason.COUNTER_NOT_COLUMNAR, f"counter {spec.name!r} of {owner!r} lapses")
    stored = values.get(key)
    try:
        factor = base_factor(spec.unit) * scale
        initial = whole(exact(spec.initial) * factor)
        base = whole(exact(stored) * factor) if stored is not None else None
    except Unsupported as error:
        raise NotColumnar(FallbackReason.COUNTER_NOT_COLUMNAR, str(error)) from error
    # A value stored without a period belongs to the period of the first item that uses it; when it is the initial
    # value (a shared counter's row is created so, to be locked), that is what the period starts from anyway.
    if base is not None and base != initial and spec.cycle() is not None and (life is None or life.period_start is None):
        raise NotColumnar(FallbackReason.COUNTER_NOT_COLUMNAR, f"counter {spec.name!r} of {owner!r} was stored before it had reset periods")
    thresholds = tuple((threshold, exact(threshold.value) * factor) for threshold in spec.thresholds)
    period = period_key(life.period_start if life is not None else None)
    return StoredCounter(key, spec, factor, initial, base, period, thresholds)


def _periods(
    name: str, items: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter], owners: Mapping[CounterKey, int]
) -> dict[str, pl.Series]:
    """Counter ``name``'s columns for ``items`` (``contract_id``, and ``at``: the consumption date in microseconds since
    1970, UTC): its owner (``o:NAME``), each item's reset period (``e:NAME``) and the counter's value in base units when
    that period started (``c0:NAME``). The period is the one holding the item's date by the counter's cycle (the rating
    core's), or the stored value's period when that is later, as :meth:`kopek.rating.compiled.BoundCounter.period_start`
    and the row path's reading of a stored value give them; the value is the stored one in the stored value's period,
    the initial one in any other.

    Column-wise: a cycle's period starts over the chunk's dates are laid out once (``Cycle.start_of``,
    ``Cycle.starts_between``) and each item finds its period among them by a sorted search."""
    per_contract = []
    cycles: dict[Cycle, int] = {}
    for contract_id in items["contract_id"].unique(maintain_order=True).to_list():
        counter = counters.get((contract_id, name))
        if counter is None:
            continue
        cycle = counter.spec.cycle()
        index = -1 if cycle is None else cycles.setdefault(cycle, len(cycles))
        per_contract.append((contract_id, owners[counter.key], index, counter.period, counter.stored, counter.initial))
    schema = {"contract_id": pl.String, "owner": pl.Int64, "cycle": pl.Int64, "period": pl.Int64, "stored": INT, "initial": INT}
    found = items.join(pl.DataFrame(per_contract, schema=schema, orient="row"), on="contract_id", how="left", maintain_order="left")
    held = pl.Series("held", [NO_PERIOD] * found.height, dtype=pl.Int64)
    for cycle, index in cycles.items():
        mask = found["cycle"] == index
        at = found["at"].filter(mask)
        first = cycle.start_of(_instant_of(at.min()))
        keys = pl.Series([period_key(start) for start in (first, *cycle.starts_between(first, _instant_of(at.max())))], dtype=pl.Int64)
        held = held.scatter(mask.arg_true(), keys.gather(keys.search_sorted(at, side="right") - 1))
    epoch = (
        pl.when(pl.col("owner").is_null())
        .then(pl.lit(NO_PERIOD, pl.Int64))
        .when(pl.col("cycle") == -1)
        .then(pl.col("period"))
        .otherwise(pl.max_horizontal(pl.col("held"), pl.col("period")))
    )
    start = (
        pl.when(pl.col("owner").is_null())
        .then(pl.lit(0, INT))
        .when(pl.col("stored").is_not_null() & (pl.col("epoch") == pl.col("period")))
        .then(pl.col("stored"))
        .otherwise(pl.col("initial"))
    )
    columns = found.with_columns(held).with_columns(epoch=epoch).with_columns(start=start)
    return {
        owner_column(name): columns["owner"],
        epoch_column(name): columns["epoch"].cast(pl.Int64),
        f"c0:{name}": columns["start"].cast(INT),
    }


def _instant_of(micros: object) -> datetime:
    """An instant from microseconds since 1970, UTC."""
    found = period_of_key(int(micros))  # type: ignore[call-overload]
    assert found is not None, "a consumption date is never the 'no period' key"
    return found


def _accounts(
    uow: UnitOfWork,
    contracts: Mapping[str, Contract],
    plans_of: Mapping[str, Sequence[tuple[str, ChargePlan]]],
    compiled: Mapping[tuple[str, str], ColumnarPlan],
) -> dict[AccountId, Account]:
    payers = set()
    for contract_id, contract in contracts.items():
        names = {plan.name for _, plan in plans_of[contract_id]}
        for (plan_name, _), program in compiled.items():
            if plan_name not in names:
                continue
            for charge in program.charges:
                account_id = contract.roles.get(charge.charge.account_role)
                if account_id is None:
                    raise NotColumnar(
                        FallbackReason.ACCOUNT_NOT_COLUMNAR,
                        f"contract {contract_id!r} assigns no account to role {charge.charge.account_role!r}",
                    )
                payers.add(account_id)
    accounts = uow.master.lock_accounts(payers)
    if any(amount for amount in uow.sessions.reserved(accounts).values()):
        raise NotColumnar(FallbackReason.ACCOUNT_NOT_COLUMNAR, "a payer account holds live reservations")
    for account in accounts.values():
        try:
            check_chargeable(account)
        except KopekError as error:
            raise NotColumnar(FallbackReason.ACCOUNT_NOT_COLUMNAR, error.message) from error
    for contract_id, contract in contracts.items():
        payer_accounts = (accounts[account_id] for account_id in contract.roles.values() if account_id in accounts)
        currencies = {plan.currency for _, plan in plans_of[contract_id]}
        if any(currencies != {account.currency} for account in payer_accounts):
            raise NotColumnar(FallbackReason.ACCOUNT_NOT_COLUMNAR, "an account's currency differs from its plan's")
    return accounts


def _frame(
    typed: pl.DataFrame,
    chosen: Chosen,
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    counters: Mapping[tuple[str, str], StoredCounter],
    *,
    cdr_columns: bool = True,
) -> pl.DataFrame:
    """The chunk as columns: order, ids, plan, class, quantity in base units, the properties nodes read, counters before;
    with ``cdr_columns``, also what storing the CDRs' charges needs (quantity as text, ...)."""
    properties = sorted({name for program in compiled.values() for name in properties_read(program)})
    counter_names = sorted({name for program in compiled.values() for name in program.counters})
    if typed["q"].null_count():
        raise NotColumnar(FallbackReason.FRACTIONAL_QUANTITY, "a quantity is not a whole number of base units")
    # No quantity, counter position (a stored counter plus the chunk's quantities) or numerator may pass Int128.
    largest = max((max(abs(counter.stored or 0), abs(counter.initial)) for counter in counters.values()), default=0)
    bound = largest + _sum_of_magnitudes(typed["q"])
    if not all(program.fits(bound, typed.height) for program in compiled.values()):
        raise NotColumnar(FallbackReason.INTEGER_BOUND, "the chunk's quantities are too large for the integer form")
    pricing = pl.DataFrame(
        [(contract_id, item_class, plan.name, item_id) for (contract_id, item_class), (item_id, plan) in chosen.items()],
        schema={"contract_id": pl.String, "item_class": pl.String, "plan": pl.String, "contract_item_id": pl.String},
        orient="row",
    )
    kept = ["row", "id"]
    if cdr_columns:
        kept += ["quantity", "quantity_unit", "consumption_date"]
    else:
        kept += ["consumption_date"]
    frame = typed.join(pricing, on=["contract_id", "item_class"], how="left", maintain_order="left").select(
        *kept,
        "contract_id",
        "plan",
        "contract_item_id",
        "item_class",
        "q",
        *(pl.col(f"p:{name}") if f"p:{name}" in typed.columns else pl.lit(None, pl.String).alias(f"p:{name}") for name in properties),
    )
    if counter_names:
        items = typed.select("contract_id", at=pl.col("consumption_date").dt.epoch("us"))
        owners = {key: index for index, key in enumerate(dict.fromkeys(counter.key for counter in counters.values()))}
        frame = frame.with_columns(
            **{column: series for name in counter_names for column, series in _periods(name, items, counters, owners).items()}
        )
    return frame


def _sum_of_magnitudes(quantities: pl.Series) -> int:
    """The sum of the quantities' magnitudes, exactly (in Int128 when it cannot wrap around)."""
    largest = quantities.abs().max()
    if largest is None:
        return 0
    if int(largest) * max(quantities.len(), 1) < 2**126:  # type: ignore[arg-type]
        return int(quantities.abs().sum())
    return sum(abs(int(value)) for value in quantities.to_list())


def _refusals(frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan], rules: ChunkRules) -> pl.DataFrame:
    """``frame`` with ``refusal`` (no_access message), ``status`` before pricing and ``live`` (to be charged)."""
    parts = []
    for (plan_name, item_class), program in compiled.items():
        part = frame.lazy().filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        parts.append(program.refused(part).select("row", "refusal", "unpriced"))
    marks = pl.concat(parts).sort("row").collect()
    if marks["unpriced"].any():
        raise NotColumnar(FallbackReason.UNPRICED_ITEM, "a switch or prefix has no price for an item")
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


def _priced_in_order(
    frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan], counters: Mapping[tuple[str, str], StoredCounter]
) -> pl.DataFrame:
    """``frame`` priced (:func:`_priced`), with each counter's periods never going back for its owner.

    The contracts sharing a counter may come one after the other (``SUBSCRIPTION_*`` modes), each in date order: an
    item dated before the period an earlier item moved the counter to counts in that period, as on the row path (a
    late CDR). Which items read or move a counter (``t:NAME``) does not depend on its periods, so a second pricing
    with the periods so settled is exact."""
    priced = _priced(frame, compiled)
    settled = _settled_periods(priced, counters)
    return _priced(frame.with_columns(settled), compiled) if settled else priced


def _settled_periods(priced: pl.DataFrame, counters: Mapping[tuple[str, str], StoredCounter]) -> list[pl.Series]:
    """The ``e:NAME`` and ``c0:NAME`` columns of the counters whose periods go back for an owner in ``priced``, each
    item that reads or moves the counter put in the latest period an earlier item of its owner stored it in; none when
    no period goes back.

    As the row path: the period that never goes back is the stored one. An item that leaves a counter without a stored
    row as it was (no move, nothing used up) stores nothing, so a later item of another contract, dated in an earlier
    period, is counted in its own."""
    by_owner = {(counter.key, name): counter for (_, name), counter in counters.items()}
    owners_of: dict[str, set[CounterKey]] = {}
    contracts_of: dict[CounterKey, set[str]] = {}
    for (contract_id, name), counter in counters.items():
        owners_of.setdefault(name, set()).add(counter.key)
        contracts_of.setdefault(counter.key, set()).add(contract_id)
    keys = list(dict.fromkeys(counter.key for counter in counters.values()))  # The owner keys of the frame (``_frame``).
    settled = []
    for name in sorted(owners_of):
        if f"t:{name}" not in priced.columns or all(len(contracts_of[key]) == 1 for key in owners_of[name]):
            continue  # A contract's own items come in date order.
        owner_keys, epochs = priced[owner_column(name)].to_list(), priced[epoch_column(name)].to_list()
        touches, starts = priced[f"t:{name}"].to_list(), priced[f"c0:{name}"].to_list()
        moves, used = (
            priced[column].to_list() if column in priced.columns else [None] * priced.height for column in (f"m:{name}", f"u:{name}")
        )
        latest: dict[int, int] = {}
        moved = False
        for position, (owner, epoch, touch) in enumerate(zip(owner_keys, epochs, touches, strict=True)):
            if owner is None or not touch:
                continue
            counter = by_owner[(keys[owner], name)]
            if epoch < latest.get(owner, epoch):
                epochs[position] = latest[owner]
                starts[position] = counter.start_value(latest[owner])
                moved = True
            stored = owner in latest or counter.stored is not None
            if stored or (counter.initial != 0 if used[position] else bool(moves[position])):
                latest[owner] = epochs[position]
        if moved:
            settled += [pl.Series(epoch_column(name), epochs, dtype=pl.Int64), pl.Series(f"c0:{name}", starts, dtype=INT)]
    return settled


def _priced(frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan]) -> pl.DataFrame:
    try:
        return _priced_all(frame, compiled)
    except ScheduleTooFine as error:
        raise NotColumnar(FallbackReason.SCHEDULE_PARTS, str(error)) from error


def _priced_all(frame: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan]) -> pl.DataFrame:
    parts = []
    for (plan_name, item_class), program in compiled.items():
        part = frame.lazy().filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        keep = [f"{column}{charge.index}" for charge in program.charges for column in ("a", "z")]
        keep += [f"m:{name}" for charge in program.charges for name in charge.dynamic.moves]
        keep += [f"u:{name}" for name in used_up_counters(program)]
        keep += [f"r:{name}" for name in reached_counters(program)]
        keep += [f"t:{name}" for charge in program.charges for name in charge.dynamic.touches]
        parts.append(program.priced(part).select("row", *keep))
    result = pl.concat(parts, how="diagonal_relaxed").sort("row").collect()
    return frame.join(result, on="row", how="left", maintain_order="left")


def _notifications(charged: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan]) -> dict[int, list[dict[str, Any]]]:
    """The notifications of each charged CDR that has some (allowances used up, caps reached), in the row path's order."""
    flags = [column for column in charged.columns if column.startswith(("u:", "r:"))]
    if not flags:
        return {}
    notes: dict[int, list[dict[str, Any]]] = {}
    order = {key: notices(program) for key, program in compiled.items()}
    for record in charged.filter(pl.any_horizontal(pl.col(flags).fill_null(value=False))).iter_rows(named=True):
        for notice in order[(record["plan"], record["item_class"])]:
            name = notice.counter
            if notice.kind == NotificationKind.ALLOWANCE_EXHAUSTED.value and record[f"u:{name}"]:
                message = f"allowance {name!r} is used up"
                notes.setdefault(record["row"], []).append({"kind": notice.kind, "message": message, "data": {"counter": name}})
            elif notice.kind == NotificationKind.CAP_REACHED.value and record[f"r:{name}"]:
                message = f"cap {name!r} of {notice.maximum} is reached"
                data = {"counter": name, "maximum": notice.maximum}
                notes.setdefault(record["row"], []).append({"kind": notice.kind, "message": message, "data": data})
    return notes


# ---- pricing without charging (a recharge's) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnarPricing:
    """Items priced column-wise, nothing written: the frame in the items' order (``status``, ``plan``, ``item_class``,
    ``a{i}``, ``z{i}``, ``m:NAME``, ``t:NAME``, ``u:NAME``, ``e:NAME``, ``c0:NAME`` as a chunk has them), the items
    typed, the contract item pricing each, the compiled plans and the counters before them."""

    frame: pl.DataFrame
    items: list[TypedItem]
    pricing: list[tuple[str, ChargePlan]]
    compiled: dict[tuple[str, str], ColumnarPlan]
    counters: dict[tuple[str, str], StoredCounter]


def price_columnar(
    uow: UnitOfWork,
    catalog: Catalog,
    catalog_version: int,
    plans: PlanCache,
    rows: Sequence[Mapping[str, Any]],
    *,
    values: Mapping[CounterKey, Any],
    lives: Mapping[CounterKey, CounterLife],
    cdr_columns: bool = False,
) -> ColumnarPricing:
    """Price ``rows`` (items of contracts the caller locked, in charging order, shaped as CDR rows; ``properties`` as
    JSON text or a mapping) column-wise from the counters ``values`` and ``lives`` instead of the stored ones, with a
    chunk's acceptance rules; writes nothing. The frame holds what pricing needs; ``cdr_columns`` adds what storing
    the items as a chunk's operations would (request hashes, quantities as text, ids).

    Raises :class:`NotColumnar` when the items need the row path."""
    try:
        typed, items = typed_rows(catalog, rows)
    except Untyped as error:
        raise NotColumnar(FallbackReason.CDR_INVALID, str(error)) from error
    except QuantityTooLarge as error:
        raise NotColumnar(FallbackReason.INTEGER_BOUND, str(error)) from error
    contracts = _contracts(uow, typed)
    # A recharge restores its own contract's counters only: a parent's or a shared counter is not among them.
    for contract_id, contract in contracts.items():
        if contract.parent_id is not None:
            raise NotColumnar(FallbackReason.LINKED_CONTRACT, f"contract {contract_id!r} is linked to {contract.parent_id!r}")
    if _shared_counters(catalog, contracts):
        raise NotColumnar(FallbackReason.PLAN_NOT_COLUMNAR, "a plan declares a shared counter")
    _check_grants(uow, contracts, [])
    plans_of = {contract_id: _plans_of(catalog, contract) for contract_id, contract in contracts.items()}
    # The caller's lock (a recharge's) is its own: the items are priced as the contract, unlocked, would charge them.
    unlocked = {contract_id: replace(contract, status=ContractStatus.ACTIVE) for contract_id, contract in contracts.items()}
    _check_spans(typed, unlocked, plans_of)
    chosen = _pricing(typed, plans_of)
    compiled = _compiled(plans, catalog_version, catalog, chosen)
    counters = _counters_from(values, lives, contracts, plans_of, _scales(compiled))
    frame = _frame(typed, chosen, compiled, counters, cdr_columns=cdr_columns)
    frame = _priced_in_order(_refusals(frame, compiled, ChunkRules("", first_fail=False, stopped=set())), compiled, counters)
    pricing = [chosen[(row["contract_id"], item.item_class.name)] for row, item in zip(rows, items, strict=True)]
    return ColumnarPricing(frame, items, pricing, compiled, counters)

"""What recharging reads and writes: recharges, the charging operations of a contract with their standing charged
items, and the corrections (reversal and new charged items, superseded originals) a recharge writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.bulk import insert_many
from kopek.store.counter_journal_store import JOURNALED_SCOPES
from kopek.store.job_scope import outcome_of
from kopek.store.schema import (
    cdr_outcomes,
    cdrs,
    charged_items,
    charging_operations,
    charging_sessions,
    contract_items,
    contracts,
    recharges,
    session_counter_holds,
)

RUNNING = "running"
DONE = "done"
FAILED = "failed"
LIVE_SESSION = "active"

_CHUNK = 500


class RechargeStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def insert(self, values: dict[str, Any]) -> None:
        self._connection.execute(sa.insert(recharges).values(**values))

    def update(self, recharge_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(recharges).where(recharges.c.id == recharge_id).values(**values))

    def get(self, recharge_id: str) -> dict[str, Any] | None:
        row = self._connection.execute(sa.select(recharges).where(recharges.c.id == recharge_id)).mappings().first()
        return dict(row) if row is not None else None

    def running_of(self, contract_id: str) -> list[str]:
        """The recharges of the contract still marked running (interrupted ones, or one under way)."""
        query = sa.select(recharges.c.id).where(recharges.c.contract_id == contract_id, recharges.c.state == RUNNING)
        return [str(found) for found in self._connection.execute(query).scalars()]

    def end_interrupted(self, contract_id: str, recharge_id: str, *, at: datetime) -> None:
        """Mark failed the contract's other running recharges: they were interrupted before their work committed, and this
        one took their place."""
        self._connection.execute(
            sa.update(recharges)
            .where(recharges.c.contract_id == contract_id, recharges.c.state == RUNNING, recharges.c.id != recharge_id)
            .values(state=FAILED, finished_at=at, result='{"code": "interrupted", "message": "taken over by ' + recharge_id + '"}')
        )

    def results_of_job(self, job_id: str) -> list[dict[str, Any]]:
        query = sa.select(recharges).where(recharges.c.job_id == job_id).order_by(recharges.c.contract_id, recharges.c.created_at)
        return [dict(row) for row in self._connection.execute(query).mappings()]

    # ---- what a recharge reads --------------------------------------------------------------------

    def operations_from(self, contract_id: str, consumed_from: datetime) -> list[dict[str, Any]]:
        """The contract's charging operations and charged CDRs consumed at or after ``consumed_from``
        (:func:`_operations`)."""
        operation = charging_operations.c
        query = sa.union_all(
            _operations().where(operation.contract_id == contract_id, operation.consumption_date >= consumed_from),
            _charged_cdrs().where(_outcome.contract_id == contract_id, cdrs.c.consumption_date >= consumed_from),
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def operations(self, operation_ids: Sequence[str], *, contract_id: str) -> list[dict[str, Any]]:
        """The charging operations of these ids, and the charged CDRs of ``contract_id`` among them (:func:`_operations`;
        a CDR's charge is found by its contract: another contract's is not among them)."""
        found = []
        for start in range(0, len(operation_ids), _CHUNK):
            chunk = list(operation_ids[start : start + _CHUNK])
            query = sa.union_all(
                _operations().where(charging_operations.c.id.in_(chunk)),
                _charged_cdrs().where(_outcome.contract_id == contract_id, _outcome.operation_id.in_(chunk)),
            )
            found += [dict(row) for row in self._connection.execute(query).mappings()]
        return found

    def standing_items(self, operation_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The charged items of these operations that stand (neither superseded nor a reversal), in id order."""
        found = []
        for start in range(0, len(operation_ids), _CHUNK):
            chunk = list(operation_ids[start : start + _CHUNK])
            query = sa.select(charged_items).where(
                charged_items.c.operation_id.in_(chunk), charged_items.c.superseded_by.is_(None), charged_items.c.reverses_id.is_(None)
            )
            found += [dict(row) for row in self._connection.execute(query).mappings()]
        return sorted(found, key=lambda row: row["id"])

    def live_sessions_holding(self, contract_id: str) -> list[str]:
        """Up to ten live sessions (and authorizations) whose grants hold some of the contract's own counters."""
        holds = session_counter_holds.c
        query = (
            sa.select(holds.session_id)
            .join(charging_sessions, charging_sessions.c.id == holds.session_id)
            .where(
                holds.scope.in_([scope.value for scope in JOURNALED_SCOPES]),  # the leading column of the holds' index
                holds.namespace == "",
                holds.contract_id == contract_id,
                charging_sessions.c.status == LIVE_SESSION,
            )
            .distinct()
            .order_by(holds.session_id)
            .limit(10)
        )
        return [str(found) for found in self._connection.execute(query).scalars()]

    def live_of(self, session_ids: Sequence[str]) -> list[str]:
        """Those of ``session_ids`` still live, in id order (up to ten)."""
        found: set[str] = set()
        for start in range(0, len(session_ids), _CHUNK):
            chunk = list(session_ids[start : start + _CHUNK])
            query = sa.select(charging_sessions.c.id).where(charging_sessions.c.id.in_(chunk), charging_sessions.c.status == LIVE_SESSION)
            found.update(str(each) for each in self._connection.execute(query).scalars())
        return sorted(found)[:10]

    def linked_children(self, contract_id: str) -> list[str]:
        query = sa.select(contracts.c.id).where(contracts.c.parent_id == contract_id).order_by(contracts.c.id).limit(10)
        return [str(found) for found in self._connection.execute(query).scalars()]

    def contracts_with_usage(
        self, consumed_from: datetime, *, plans: Sequence[str] | None, contract_ids: Sequence[str] | None, limit: int
    ) -> list[str]:
        """Contract ids (in id order) with an operation consumed at or after ``consumed_from``, an item of one of ``plans``
        and among ``contract_ids`` (``None``: any)."""
        used = sa.union_all(
            sa.select(charging_operations.c.contract_id).where(charging_operations.c.consumption_date >= consumed_from),
            sa.select(_outcome.contract_id)
            .join(cdrs, outcome_of(cdr_outcomes))
            .where(_outcome.operation_id.is_not(None), cdrs.c.consumption_date >= consumed_from),
        )
        query = sa.select(contracts.c.id).where(contracts.c.id.in_(used))
        if plans is not None:
            using = sa.select(contract_items.c.contract_id).where(contract_items.c.charge_plan.in_(list(plans)))
            query = query.where(contracts.c.id.in_(using))
        if contract_ids is not None:
            query = query.where(contracts.c.id.in_(list(contract_ids)))
        return [str(found) for found in self._connection.execute(query.order_by(contracts.c.id).limit(limit)).scalars()]

    # ---- what a recharge writes -------------------------------------------------------------------

    def supersede(self, item_ids: Sequence[int], recharge_id: str) -> None:
        for start in range(0, len(item_ids), _CHUNK):
            chunk = list(item_ids[start : start + _CHUNK])
            self._connection.execute(sa.update(charged_items).where(charged_items.c.id.in_(chunk)).values(superseded_by=recharge_id))

    def insert_items(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_many(self._connection, charged_items, rows)


_outcome = cdr_outcomes.c


def _operations() -> sa.Select[Any]:
    """Charging operations as a recharge reads them: ``id``, ``consumption_date``, ``created_at``, ``session_id``,
    ``contract_id``, the stored ``result``, and the columns of :func:`_charged_cdrs` (null)."""
    operation = charging_operations.c
    columns = (operation.id, operation.consumption_date, operation.created_at, operation.session_id, operation.result)
    return sa.select(*columns, operation.contract_id, *(sa.null().label(name) for name in _CDR_COLUMNS))


_CDR_COLUMNS = ("cdr_id", "item_class", "service_id", "user_id", "properties")


def _charged_cdrs() -> sa.Select[Any]:
    """Charged CDRs as a recharge reads them, shaped as :func:`_operations`: a CDR's charge has no operation row (its
    outcome records it, docs/batch.md) and its item is the stored CDR: ``cdr_id``, ``item_class``, ``service_id``,
    ``user_id`` and ``properties`` (JSON text); no result, no session."""
    cdr = cdrs.c
    charge = (_outcome.operation_id.label("id"), cdr.consumption_date, _outcome.charged_at.label("created_at"))
    absent = (sa.null().label("session_id"), sa.null().label("result"))
    item = (cdr.id.label("cdr_id"), cdr.item_class, cdr.service_id, cdr.user_id, cdr.properties)
    query = sa.select(*charge, *absent, _outcome.contract_id, *item).select_from(cdr_outcomes.join(cdrs, outcome_of(cdr_outcomes)))
    return query.where(_outcome.operation_id.is_not(None))

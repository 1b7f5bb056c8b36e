"""Finding records by filters, a page at a time: subscriber accounts, contracts, accesses, CDRs, rating jobs,
catalog versions and charging sessions.

Every page is in the order of the records' ids and starts after a cursor: the id of the last record of the previous
page (keyset paging: a page costs the same however deep it is, and records written meanwhile are not skipped).
A filter left at None matches any value; filters combine (all must match).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kopek.store.cdr_store import PENDING, cdr_states, contract_of_cdr, free_floor, job_of_chunk
from kopek.store.rating_job_store import RECHARGE
from kopek.store.schema import (
    accesses,
    catalogs,
    cdrs,
    charging_sessions,
    contract_items,
    contract_roles,
    contracts,
    rating_jobs,
    subscriber_accounts,
)
from kopek.store.session_store import SESSION


@dataclass(frozen=True, slots=True)
class SubscriberAccountFilter:
    status: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class ContractFilter:
    """``charge_plan``: contracts with a contract item of that plan; ``account_id``: contracts whose roles name that
    account (what it pays for); ``valid_at``: contracts valid at that instant."""

    subscriber_account_id: str | None = None
    status: str | None = None
    charge_plan: str | None = None
    account_id: str | None = None
    parent_id: str | None = None
    valid_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessFilter:
    service_id: str | None = None
    user_id: str | None = None
    contract_id: str | None = None
    valid_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """``contract_id``: the CDRs of that contract, the one a rating job resolved or, for a CDR no job took yet, the one its
    access selects at its consumption date; ``date_from`` (inclusive) and ``date_to`` (exclusive) bound the consumption date."""

    status: str | None = None
    contract_id: str | None = None
    job_id: str | None = None
    item_class: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    chunk_id: str | None = None


@dataclass(frozen=True, slots=True)
class SessionFilter:
    status: str | None = None
    subscriber_account_id: str | None = None
    contract_id: str | None = None
    reservation_id: str | None = None


def _matching(query: sa.Select[Any], pairs: tuple[tuple[sa.ColumnElement[Any], object], ...]) -> sa.Select[Any]:
    for column, value in pairs:
        if value is not None:
            query = query.where(column == value)
    return query


class ListingStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def subscriber_account_ids(self, chosen: SubscriberAccountFilter, *, after: str, limit: int) -> list[str]:
        table = subscriber_accounts.c
        query = _matching(sa.select(table.id).where(table.id > after), ((table.status, chosen.status), (table.currency, chosen.currency)))
        return list(self._connection.execute(query.order_by(table.id).limit(limit)).scalars())

    def contract_ids(self, chosen: ContractFilter, *, after: str, limit: int) -> list[str]:
        table = contracts.c
        query = sa.select(table.id).where(table.id > after)
        query = _matching(
            query,
            (
                (table.subscriber_account_id, chosen.subscriber_account_id),
                (table.status, chosen.status),
                (table.parent_id, chosen.parent_id),
            ),
        )
        if chosen.charge_plan is not None:
            items = contract_items.c
            query = query.where(
                sa.select(items.contract_id).where(items.contract_id == table.id, items.charge_plan == chosen.charge_plan).exists()
            )
        if chosen.account_id is not None:
            roles = contract_roles.c
            query = query.where(
                sa.select(roles.contract_id).where(roles.contract_id == table.id, roles.account_id == chosen.account_id).exists()
            )
        if chosen.valid_at is not None:
            query = query.where(table.valid_from <= chosen.valid_at, sa.or_(table.valid_to.is_(None), table.valid_to > chosen.valid_at))
        return list(self._connection.execute(query.order_by(table.id).limit(limit)).scalars())

    def access_rows(self, chosen: AccessFilter, *, after: int, limit: int) -> list[dict[str, Any]]:
        table = accesses.c
        query = sa.select(accesses).where(table.id > after)
        query = _matching(
            query, ((table.service_id, chosen.service_id), (table.user_id, chosen.user_id), (table.contract_id, chosen.contract_id))
        )
        if chosen.valid_at is not None:
            query = query.where(table.valid_from <= chosen.valid_at, sa.or_(table.valid_to.is_(None), table.valid_to > chosen.valid_at))
        return [dict(row) for row in self._connection.execute(query.order_by(table.id).limit(limit)).mappings()]

    def cdr_rows(self, chosen: CdrFilter, *, after: str, limit: int) -> list[dict[str, Any]]:
        states = cdr_states()
        table = states.columns
        query = states.select().where(cdrs.c.id > after)
        query = _matching(query, ((table["job_id"], chosen.job_id), (table["item_class"], chosen.item_class)))
        if chosen.status == PENDING:
            query = query.where(states.pending(free_floor(self._connection)))
        elif chosen.status is not None:
            query = query.where(states.outcome.c.status == chosen.status)
        if chosen.chunk_id is not None:
            # Of the outcomes, with the chunk's job, so that the job's index finds them (a chunk's id begins with its job's).
            outcome = states.outcome.c
            query = query.where(outcome.chunk_id == chosen.chunk_id, outcome.job_id == job_of_chunk(chosen.chunk_id))
        if chosen.date_from is not None:
            query = query.where(cdrs.c.consumption_date >= chosen.date_from)
        if chosen.date_to is not None:
            query = query.where(cdrs.c.consumption_date < chosen.date_to)
        if chosen.contract_id is not None:
            contract = table["contract_id"]
            query = query.where(
                sa.or_(contract == chosen.contract_id, sa.and_(contract.is_(None), contract_of_cdr() == chosen.contract_id))
            )
        return [dict(row) for row in self._connection.execute(query.order_by(cdrs.c.id).limit(limit)).mappings()]

    def rating_job_rows(self, *, state: str | None, after: str, limit: int) -> list[dict[str, Any]]:
        table = rating_jobs.c
        query = _matching(sa.select(rating_jobs).where(table.id > after, table.mode != RECHARGE), ((table.state, state),))
        return [dict(row) for row in self._connection.execute(query.order_by(table.id).limit(limit)).mappings()]

    def catalog_versions(self, *, after: int, limit: int) -> list[dict[str, Any]]:
        table = catalogs.c
        query = sa.select(table.version, table.loaded_at, table.source).where(table.version > after).order_by(table.version).limit(limit)
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def session_rows(self, chosen: SessionFilter, *, after: str, limit: int) -> list[dict[str, Any]]:
        table = charging_sessions.c
        query = sa.select(charging_sessions).where(table.id > after, table.kind == SESSION)
        query = _matching(
            query,
            (
                (table.status, chosen.status),
                (table.subscriber_account_id, chosen.subscriber_account_id),
                (table.contract_id, chosen.contract_id),
                (table.reservation_id, chosen.reservation_id),
            ),
        )
        return [dict(row) for row in self._connection.execute(query.order_by(table.id).limit(limit)).mappings()]

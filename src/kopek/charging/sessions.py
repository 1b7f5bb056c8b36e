"""Online charging sessions: start, update, stop, cancel and the expiry clean-up.

A session reserves money (a pending debit with an expiry, one row per paying
account) for a grant of usage, then settles the usage the network element reports
as a normal charge of the offline path (same rating, same recording, the operation
marked with the session id) and releases the rest. Every operation locks like an
offline charge: the contract row first, then the session row, then the accounts in
id order; what an account can still spend is read under those locks, so the sum of
reservations never exceeds what the balance allows.
"""

from __future__ import annotations

import decimal
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from kopek import limits
from kopek.charging.authorizations import expire_claimed
from kopek.charging.offline import (
    ChargingContext,
    access_not_found,
    chargeable_contract_by_id,
    check_contract_chargeable,
    stored_rows,
)
from kopek.charging.quantities import checked_quantity
from kopek.charging.rating_state import LockedState, load_locked_state, uses_shared_counters
from kopek.charging.resolutions import guarded, locked_for_a_step, posted_in_full, record_settlement, reservation_views
from kopek.charging.results import ChargeResult, NotificationView
from kopek.charging.session_impacts import held_impacts, merged_impacts, session_moves
from kopek.charging.session_retries import (
    SessionRequest,
    answered_once,
    remember,
    remembered_and_committed,
    replayed,
    replayed_after_conflict,
    replayed_all,
    replayed_from,
    session_request,
    start_fields,
)
from kopek.charging.session_views import (
    CleanupReport,
    Resolution,
    SessionImpacts,
    SessionResult,
    SessionStatus,
    SessionView,
    StartSession,
    StopSession,
    UpdateSession,
)
from kopek.domain.accounts import beyond_bounds, resolve_payers, spendable
from kopek.domain.catalog import Catalog, PropertyType
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import Account, AccountId
from kopek.domain.units import Dimension
from kopek.errors import (
    AlreadyExistsError,
    Code,
    DoesNotExistError,
    ErrorDetail,
    IllegalStateError,
    InvalidError,
    KopekError,
    PrerequisiteMissingError,
    Reason,
)
from kopek.money import ZERO, rating_context
from kopek.rating.grant import Grant, added_holds, session_currency
from kopek.rating.grant import grant as grant_for
from kopek.rating.outcome import Notification, NotificationKind
from kopek.rating.rate import RatingState, rate_item
from kopek.store.catalog_cache import CatalogVersion
from kopek.store.charge_store import StateReads
from kopek.store.driver_batch import DriverBatch
from kopek.store.listing_store import ListingStore, SessionFilter
from kopek.store.session_store import AUTHORIZATION, SESSION, Written
from kopek.store.uow import UnitOfWork

logger = logging.getLogger("kopek.sessions")

Result = TypeVar("Result")


class _Step(Enum):
    """What one call does to a live session."""

    UPDATE = "update"
    STOP = "stop"
    CANCEL = "cancel"
    CLEANUP = "cleanup"


_STEP_READS = {_Step.UPDATE: StateReads.ALL, _Step.STOP: StateReads.ALL_BUT_RESERVATIONS, _Step.CANCEL: StateReads.CONTRACTS_ONLY}
"""What a step reads of its contract's state: an update charges and grants again, a stop only charges, a cancel only
releases (its contract is locked all the same, before the session)."""


# ---- the use cases ----------------------------------------------------------------------------


def start_session(command: StartSession, context: ChargingContext) -> SessionResult:
    """Open a session, grant the largest affordable quantity up to the request, reserve its price."""
    if not limits.SESSION_TTL_MS_MIN <= command.ttl_ms <= limits.SESSION_TTL_MS_MAX:
        raise InvalidError(
            code=Code.SESSION_TTL_OUT_OF_BOUNDS,
            message=f"a session's time to live is {limits.SESSION_TTL_MS_MIN} to {limits.SESSION_TTL_MS_MAX} ms, not {command.ttl_ms}",
            details=(ErrorDetail("out of bounds", ("ttl_ms",), Code.SESSION_TTL_OUT_OF_BOUNDS),),
        )
    requested = checked_quantity(command.requested_quantity, "requested_quantity") if command.requested_quantity is not None else None
    request = session_request(command.idempotency_key, "start", command.session_id, start_fields(command))
    try:
        return _guarded(lambda: _start(command, requested, context, request))
    except sa.exc.IntegrityError as error:
        # The same session id, or the same idempotency key, committed first: a retry gets the first answer.
        replay = replayed_after_conflict(context.engine, request)
        if replay is not None:
            return replay
        raise _duplicate(command.session_id) from error


def update_session(command: UpdateSession, context: ChargingContext) -> SessionResult:
    """Charge the usage since the last grant, release the previous reservation, reserve the next grant."""
    used = checked_quantity(command.used_quantity, "used_quantity")
    requested = checked_quantity(command.requested_quantity, "requested_quantity") if command.requested_quantity is not None else None
    began = _usage_date(command.consumption_date)
    identity = {"used": str(used), "requested": str(requested)} | _date_identity(began)
    request = session_request(command.idempotency_key, "update", command.session_id, identity)
    return answered_once(
        context.engine,
        request,
        lambda: _guarded(lambda: _one(context, command.session_id, _Step.UPDATE, used, requested, request, began=began)),
        replayed,
    )


def stop_session(command: StopSession, context: ChargingContext) -> SessionResult:
    """Charge the final usage, release what is left and end the session."""
    used = checked_quantity(command.used_quantity, "used_quantity")
    began = _usage_date(command.consumption_date)
    request = session_request(command.idempotency_key, "stop", command.session_id, {"used": str(used)} | _date_identity(began))
    return answered_once(
        context.engine,
        request,
        lambda: _guarded(lambda: _one(context, command.session_id, _Step.STOP, used, None, request, began=began)),
        replayed,
    )


def _usage_date(value: datetime | None) -> datetime | None:
    """A reported usage's consumption date, checked: it must carry an offset."""
    if value is not None and value.tzinfo is None:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message="the consumption date must carry a time zone offset",
            details=(ErrorDetail("naive datetime", ("consumption_date",)),),
        )
    return value


def _date_identity(began: datetime | None) -> dict[str, str]:
    """What a consumption date adds to a request's identity (nothing when absent, so older keys still match)."""
    return {} if began is None else {"consumption_date": began.astimezone(UTC).isoformat()}


def cancel_session(session_id: str, context: ChargingContext, *, idempotency_key: str | None = None) -> SessionResult:
    """Release the session's reservation without charging anything, and end it."""
    request = session_request(idempotency_key, "cancel", session_id, {})
    return answered_once(
        context.engine, request, lambda: _guarded(lambda: _one(context, session_id, _Step.CANCEL, None, None, request)), replayed
    )


def cleanup_session(session_id: str, context: ChargingContext) -> SessionResult:
    """End a live session now with its default resolution, expired or not (forced clean-up)."""
    return _guarded(lambda: _one(context, session_id, _Step.CLEANUP, None, None))


def stop_reservation(
    reservation_id: str, used: Mapping[str, object], context: ChargingContext, *, idempotency_key: str | None = None
) -> list[SessionResult]:
    """End every live session of a multiservice session (one reservation id) in one commit.

    ``used`` gives the final usage per session id; a session it does not name is stopped with none.
    """
    usage = {session_id: checked_quantity(value, f"used.{session_id}") for session_id, value in used.items()}
    identity = {"used": {session_id: str(quantity) for session_id, quantity in sorted(usage.items())}}
    request = session_request(idempotency_key, "stop_reservation", reservation_id, identity)
    return answered_once(
        context.engine, request, lambda: _guarded(lambda: _stop_reservation(reservation_id, usage, context, request)), replayed_all
    )


def cleanup_expired(context: ChargingContext, *, limit: int = limits.SESSION_CLEANUP_BATCH_MAX) -> CleanupReport:
    """Resolve the live sessions past their expiry with their default resolution, each in its own commit.

    Safe from several processes at once: each session is claimed under the contract lock with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` and written with a conditional update on its version,
    so a session is resolved once; one another process holds or already resolved is skipped.
    """
    now = context.clock()
    with UnitOfWork(context.engine, writes=False) as uow:
        candidates = uow.sessions.expired(now, limit=limit)
    resolved = []
    for session_id in candidates:
        try:
            if _guarded(partial(_expire, context, session_id, now)):
                resolved.append(session_id)
        except KopekError as error:
            # One session that cannot be resolved now (a migrating contract, a busy row) does not stop the pass.
            logger.warning("session %s not cleaned up: %s", session_id, error)
    return CleanupReport(resolved=resolved)


def read_session(session_id: str, context: ChargingContext) -> SessionView:
    with UnitOfWork(context.engine, writes=False) as uow:
        row = uow.sessions.get(session_id)
        if row is None or row["kind"] != SESSION:
            raise _missing(session_id)
        return _view(uow, row)


def live_sessions(subscriber_account_id: str, context: ChargingContext, *, limit: int) -> list[SessionView]:
    with UnitOfWork(context.engine, writes=False) as uow:
        if uow.master.subscriber_account(subscriber_account_id) is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"subscriber account {subscriber_account_id!r} does not exist")
        return [_view(uow, row) for row in uow.sessions.live_of(subscriber_account_id, limit=limit)]


def session_page(chosen: SessionFilter, context: ChargingContext, *, after: str, limit: int) -> list[SessionView]:
    """The sessions (live or ended) matching ``chosen`` with an id after ``after``, in id order."""
    with UnitOfWork(context.engine, writes=False) as uow:
        return [_view(uow, row) for row in ListingStore(uow.connection).session_rows(chosen, after=after, limit=limit)]


# ---- start -----------------------------------------------------------------------------------


def _start(command: StartSession, requested: Decimal | None, context: ChargingContext, request: SessionRequest | None) -> SessionResult:
    with UnitOfWork(context.engine, commit_with_last_batch=True, kept=context.connections) as uow:
        catalog = context.catalogs.current(uow)
        if uses_shared_counters(catalog.catalog):
            return _start_in_general(uow, command, requested, context, request)
        reservation_id = command.reservation_id or command.session_id
        read = uow.sessions.read_start(
            uow.batch(),
            session_id=command.session_id,
            reservation_id=reservation_id,
            service_id=command.service_id,
            user_id=command.user_id,
            at=command.consumption_date,
            idempotency_key=request.key if request is not None else None,
        )
        replay = replayed_from(uow, request, read.replay)
        if replay is not None:
            return replay
        item = _reservation_item(catalog.catalog, command)
        # A missing access is a missing prerequisite, told before the state of the reservation it would join.
        if read.state.contract is None:
            raise access_not_found(item)
        _refuse_conflicts(command, reservation_id, exists=read.exists, access=read.access)
        contract = read.state.contract
        check_contract_chargeable(contract, item.consumption_date)
        state = RatingState(contract, read.state.counters, read.state.lives, read.state.parent, held=added_holds(read.state.holds))
        locked = LockedState(state, read.state.accounts, read.state.reserved)
        return _granted_and_written(uow, context, command, requested, catalog.catalog, item, locked, request)


def _start_in_general(
    uow: UnitOfWork, command: StartSession, requested: Decimal | None, context: ChargingContext, request: SessionRequest | None
) -> SessionResult:
    """A start whose catalog uses shared counters: they are locked before the accounts, a statement at a time."""
    replay = replayed(uow, request)
    if replay is not None:
        return replay
    catalog = context.catalogs.current(uow).catalog
    item = _reservation_item(catalog, command)
    reservation_id = command.reservation_id or command.session_id
    # A missing access is a missing prerequisite, told before the state of the reservation it would join.
    access = uow.master.find_access(item.service_id, item.user_id, item.consumption_date)
    if access is None:
        raise access_not_found(item)
    # Starts naming one reservation id wait for each other here.
    uow.sessions.lock_reservation(reservation_id)
    exists, other_access = uow.sessions.start_conflicts(command.session_id, reservation_id)
    _refuse_conflicts(command, reservation_id, exists=exists, access=other_access)
    contract = chargeable_contract_by_id(uow, access.contract_id, item.consumption_date)
    # Lock order, as in offline charging: contract, parent and shared counters, then accounts.
    locked = load_locked_state(uow, catalog, contract)
    return _granted_and_written(uow, context, command, requested, catalog, item, locked, request)


def _granted_and_written(
    uow: UnitOfWork,
    context: ChargingContext,
    command: StartSession,
    requested: Decimal | None,
    catalog: Catalog,
    item: TypedItem,
    locked: LockedState,
    request: SessionRequest | None,
) -> SessionResult:
    """Grant the start what its contract can afford, write the session, its reservations and holds, and commit."""
    state, accounts, contract = locked.rating, locked.accounts, locked.rating.contract
    grant = grant_for(catalog, state, item, accounts, spendable(accounts, locked.reserved), requested=requested)
    if grant.refusal is not None:
        raise grant.refusal
    now = context.clock()
    expires_at = now + timedelta(milliseconds=command.ttl_ms)
    batch = uow.batch()
    written = uow.sessions.write_start(
        batch,
        {
            "id": command.session_id,
            "reservation_id": command.reservation_id or command.session_id,
            "subscriber_account_id": contract.subscriber_account_id,
            "contract_id": contract.id,
            "service_id": command.service_id,
            "user_id": command.user_id,
            "item_class": command.item_class,
            "quantity_property": command.quantity_property,
            "properties": json.dumps(_stored_properties(command), sort_keys=True, default=str),
            "status": SessionStatus.ACTIVE.value,
            "default_resolution": command.default_resolution.value,
            "ttl_ms": command.ttl_ms,
            "started_at": now,
            "updated_at": now,
            "expires_at": expires_at,
            "consumption_date": command.consumption_date,
            "granted_quantity": grant.quantity,
            "used_quantity": ZERO,
            "charged_amount": ZERO,
            "currency": session_currency(catalog, contract, item),
            "impacts": SessionImpacts(held_counters=held_impacts(grant.held)).model_dump_json(),
            "version": 1,
            "kind": SESSION,
        },
        amounts=grant.amounts,
        held=grant.held,
        currencies=_currencies_of(accounts),
    )
    result = _answer(_view(uow, written.row, reservations=written.reservations))
    remembered_and_committed(uow, request, result, at=now, batch=batch)
    return result


def _refuse_conflicts(command: StartSession, reservation_id: str, *, exists: bool, access: tuple[str, str] | None) -> None:
    """Refuse a start whose session id exists, or that would join a multiservice session of another access (``access``:
    the access of the reservation's live sessions): the sessions of one reservation id share one access (service id
    and user id)."""
    if exists:
        raise _duplicate(command.session_id)
    if access is not None and access != (command.service_id, command.user_id):
        raise IllegalStateError(
            code=Code.RESERVATION_OF_ANOTHER_ACCESS,
            reason=Reason.NOT_AUTHORIZED,
            message=f"reservation {reservation_id!r} belongs to the live sessions of another access; a session cannot join it",
            details=(ErrorDetail("belongs to another access", ("reservation_id",), Code.RESERVATION_OF_ANOTHER_ACCESS),),
        )


def _reservation_item(catalog: Catalog, command: StartSession) -> TypedItem:
    """The reservation item typed against its class, with a zero quantity; the quantity property checked."""
    item_class = catalog.item_class(command.item_class)
    if item_class is None:
        raise PrerequisiteMissingError(code=Code.ITEM_CLASS_UNKNOWN, message=f"unknown chargeable item class {command.item_class!r}")
    if item_class.quantity is None or item_class.quantity != command.quantity_property:
        raise InvalidError(
            code=Code.SESSION_QUANTITY_PROPERTY_MISMATCH,
            message=f"item class {item_class.name!r} measures usage in {item_class.quantity!r}, not {command.quantity_property!r}",
            details=(ErrorDetail("not the item class's quantity", ("quantity_property",), Code.SESSION_QUANTITY_PROPERTY_MISMATCH),),
        )
    properties = {**command.properties, command.quantity_property: "0"}
    return type_item(item_class, ChargeableItem(item_class.name, command.consumption_date, command.service_id, command.user_id, properties))


def _stored_properties(command: StartSession) -> dict[str, object]:
    return {name: value for name, value in command.properties.items() if name != command.quantity_property}


# ---- update, stop, cancel, clean-up ------------------------------------------------------------


def _one(
    context: ChargingContext,
    session_id: str,
    step: _Step,
    used: Decimal | None,
    requested: Decimal | None,
    request: SessionRequest | None = None,
    *,
    began: datetime | None = None,
) -> SessionResult:
    """Apply ``step`` to session ``session_id`` in its own commit: one batch reads (the replay check, the contract and
    the session locked, as much of the contract's state as the step uses), one writes, the answer goes with COMMIT. A
    forced clean-up and a catalog with shared counters take the general path (a statement at a time)."""
    if step is _Step.CLEANUP:
        return _one_in_general(context, session_id, step, used, requested, request, began=began)
    with UnitOfWork(context.engine, commit_with_last_batch=True, kept=context.connections) as uow:
        catalog = context.catalogs.current(uow)
        if uses_shared_counters(catalog.catalog):
            return _one_in(uow, context, session_id, step, used, requested, request, began=began)
        read = uow.sessions.read_step(
            uow.batch(),
            session_id=session_id,
            idempotency_key=request.key if request is not None else None,
            reads=_STEP_READS[step],
        )
        replay = replayed_from(uow, request, read.replay)
        if replay is not None:
            return replay
        row, contract = read.row, read.state.contract
        if row is None or row["kind"] != SESSION:
            raise _missing(session_id)
        assert contract is not None, "a session names an existing contract (foreign key)"
        if step is not _Step.CANCEL:
            check_contract_chargeable(contract, row["consumption_date"])
        state = RatingState(contract, read.state.counters, read.state.lives, read.state.parent, held=added_holds(read.state.holds))
        locked = LockedState(state, read.state.accounts, read.state.reserved)
        writes = uow.batch()
        result = _applied(uow, context, catalog, row, locked, step, used, requested, began=began, batch=writes)
        remembered_and_committed(uow, request, result, at=context.clock(), batch=writes)
    return result


def _one_in_general(
    context: ChargingContext,
    session_id: str,
    step: _Step,
    used: Decimal | None,
    requested: Decimal | None,
    request: SessionRequest | None = None,
    *,
    began: datetime | None = None,
) -> SessionResult:
    with UnitOfWork(context.engine) as uow:
        return _one_in(uow, context, session_id, step, used, requested, request, began=began)


def _one_in(
    uow: UnitOfWork,
    context: ChargingContext,
    session_id: str,
    step: _Step,
    used: Decimal | None,
    requested: Decimal | None,
    request: SessionRequest | None,
    *,
    began: datetime | None,
) -> SessionResult:
    """A step a statement at a time (a catalog with shared counters, a forced clean-up), committed."""
    replay = replayed(uow, request)
    if replay is not None:
        return replay
    found = uow.sessions.get(session_id)
    if found is None or found["kind"] != SESSION:
        raise _missing(session_id)
    writes = uow.batch()
    result = _advance(uow, context, found, step, used, requested, began=began, batch=writes)
    remembered_and_committed(uow, request, result, at=context.clock(), batch=writes)
    return result


def _stop_reservation(
    reservation_id: str, usage: Mapping[str, Decimal], context: ChargingContext, request: SessionRequest | None
) -> list[SessionResult]:
    with UnitOfWork(context.engine) as uow:
        replay = replayed_all(uow, request)
        if replay is not None:
            return replay
        # Starts that would join the reservation wait until it ended (and then start a new one).
        uow.sessions.lock_reservation(reservation_id)
        session_ids = uow.sessions.live_of_reservation(reservation_id)
        if not session_ids:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"reservation {reservation_id!r} has no live session")
        unknown = sorted(set(usage) - set(session_ids))
        if unknown:
            raise InvalidError(
                code=Code.REQUEST_INVALID,
                message=f"sessions {unknown} are not live sessions of reservation {reservation_id!r}",
                details=tuple(ErrorDetail("not a live session of this reservation", ("used", name)) for name in unknown),
            )
        results = []
        for session_id in session_ids:
            found = uow.sessions.get(session_id)
            assert found is not None
            # Each session's writes are sent before the next one reads the accounts they share.
            writes = uow.batch()
            results.append(_advance(uow, context, found, _Step.STOP, usage.get(session_id, ZERO), None, batch=writes))
            writes.run()
        remember(uow, request, results, at=context.clock())
        uow.commit()
    return results


def _expire(context: ChargingContext, session_id: str, now: datetime) -> bool:
    with UnitOfWork(context.engine) as uow:
        found = uow.sessions.get(session_id)
        if found is None or found["status"] != SessionStatus.ACTIVE.value:
            return False
        uow.master.contract(found["contract_id"], lock=True)
        claimed = uow.sessions.claim_expired(session_id, now)
        if claimed is None:
            return False
        writes = uow.batch()
        if claimed["kind"] == AUTHORIZATION:
            expire_claimed(uow, context, claimed)
        else:
            _advance(uow, context, claimed, _Step.CLEANUP, None, None, batch=writes)
        uow.commit_with(writes)
    return True


def _advance(
    uow: UnitOfWork,
    context: ChargingContext,
    found: dict[str, Any],
    step: _Step,
    used: Decimal | None,
    requested: Decimal | None,
    *,
    began: datetime | None = None,
    batch: DriverBatch,
) -> SessionResult:
    """Apply ``step`` to a session a statement at a time: lock its contract, then the row, then read the contract's
    state (:func:`_applied` does the rest, its writes queued in ``batch``)."""
    catalog = context.catalogs.current(uow)
    confirmed = step is _Step.CLEANUP and found["default_resolution"] == Resolution.CONFIRMED.value
    charges = step in (_Step.UPDATE, _Step.STOP) or confirmed
    contract, row = locked_for_a_step(uow, found, charges=charges)
    locked = load_locked_state(uow, catalog.catalog, contract, session_id=row["id"])
    return _applied(uow, context, catalog, row, locked, step, used, requested, began=began, batch=batch)


def _applied(
    uow: UnitOfWork,
    context: ChargingContext,
    catalog: CatalogVersion,
    row: dict[str, Any],
    locked: LockedState,
    step: _Step,
    used: Decimal | None,
    requested: Decimal | None,
    *,
    began: datetime | None = None,
    batch: DriverBatch,
) -> SessionResult:
    """Apply ``step`` to session ``row`` (locked, with its contract's state ``locked``): charge the usage reported (which
    began at ``began`` when given), re-grant or release, and queue the writes of the charge and the session in ``batch``
    (sent by the caller); the answer, as the writes leave the session."""
    confirmed = step is _Step.CLEANUP and row["default_resolution"] == Resolution.CONFIRMED.value
    charges = step in (_Step.UPDATE, _Step.STOP) or confirmed
    if row["status"] != SessionStatus.ACTIVE.value:
        raise IllegalStateError(code=Code.SESSION_ALREADY_ENDED, message=f"session {row['id']!r} already ended ({row['status']})")
    if confirmed:
        used = row["granted_quantity"]
    if began is not None and began < row["consumption_date"]:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message=f"usage cannot begin before its session started ({row['consumption_date'].isoformat()})",
            details=(ErrorDetail("before the session's start", ("consumption_date",)),),
        )
    origin = _origin(row, began)
    impacts = SessionImpacts.model_validate_json(row["impacts"])
    state, accounts = locked.rating._replace(session_moves=session_moves(impacts)), locked.accounts
    charge: ChargeResult | None = None
    notes: list[NotificationView] = []
    if charges and used is not None and used > 0:
        item = _session_item(catalog.catalog, row, used, used_before=row["used_quantity"], origin=origin)
        charge, accounts, state, impacts = _settle(uow, context, catalog, row, item, accounts, state, impacts, batch=batch)
        notes = list(charge.notifications or [])
    grant = Grant(ZERO, {})
    resumes_at = row["usage_resumes_at"]
    if step is _Step.UPDATE:
        used_before = row["used_quantity"] + (used if charges and used else ZERO)
        template = _session_item(catalog.catalog, row, ZERO, used_before=used_before, origin=origin)
        resumes_at = template.consumption_date
        # The settlement above changed no reservation: what the others hold is as read with the accounts' locks.
        try:
            grant = grant_for(catalog.catalog, state, template, accounts, spendable(accounts, locked.reserved), requested=requested)
        except KopekError as grant_error:
            # The usage just charged stays charged; only the next grant is refused (e.g. an account blocked meanwhile).
            grant = Grant(ZERO, {}, grant_error)
    written = _write(
        uow,
        context,
        row,
        step,
        grant,
        used if charges else None,
        charge,
        impacts,
        resumes_at=resumes_at,
        currencies=_currencies_of(accounts),
        batch=batch,
    )
    view = _view(uow, written.row, reservations=written.reservations)
    refusal = grant.refusal.code.value if grant.refusal is not None else None
    return _answer(view, charge=charge, notifications=notes, refusal=refusal)


def _write(
    uow: UnitOfWork,
    context: ChargingContext,
    row: dict[str, Any],
    step: _Step,
    grant: Grant,
    used: Decimal | None,
    charge: ChargeResult | None,
    impacts: SessionImpacts,
    *,
    resumes_at: datetime | None,
    currencies: Mapping[AccountId, str],
    batch: DriverBatch,
) -> Written:
    """Queue the step on the session row, its reservations and holds in ``batch`` (with what it already holds: the step's
    charge); the row and reservations it leaves."""
    now = context.clock()
    status = {
        _Step.UPDATE: SessionStatus.ACTIVE,
        _Step.STOP: SessionStatus.STOPPED,
        _Step.CANCEL: SessionStatus.CANCELLED,
        _Step.CLEANUP: SessionStatus.EXPIRED,
    }[step]
    expires_at = now + timedelta(milliseconds=row["ttl_ms"]) if step is _Step.UPDATE else row["expires_at"]
    charged = sum((line.amount for line in charge.charged_items or []), ZERO) if charge is not None else ZERO
    with decimal.localcontext(rating_context()):
        values = {
            "status": status.value,
            "updated_at": now,
            "expires_at": expires_at,
            "granted_quantity": grant.quantity,
            "used_quantity": row["used_quantity"] + (used or ZERO),
            "usage_resumes_at": resumes_at,
            "charged_amount": row["charged_amount"] + charged,
            "impacts": impacts.model_copy(update={"held_counters": held_impacts(grant.held)}).model_dump_json(),
        }
    return uow.sessions.write_step(
        batch, row=row, values=values, amounts=grant.amounts, expires_at=expires_at, held=grant.held, currencies=currencies
    )


def _currencies_of(accounts: Mapping[AccountId, Account]) -> dict[AccountId, str]:
    """The currency of each account, for the reservations against them."""
    return {key: account.currency for key, account in accounts.items()}


def _settle(
    uow: UnitOfWork,
    context: ChargingContext,
    loaded: CatalogVersion,
    row: dict[str, Any],
    item: TypedItem,
    accounts: dict[AccountId, Account],
    state: RatingState,
    impacts: SessionImpacts,
    *,
    batch: DriverBatch,
) -> tuple[ChargeResult, dict[AccountId, Account], RatingState, SessionImpacts]:
    """Charge ``item`` as offline charging would, without the balance bound: reported usage is never dropped. Its
    writes are queued in ``batch``."""
    catalog = loaded.catalog
    contract = state.contract
    outcome = rate_item(catalog, state, item)
    payers = resolve_payers(contract, outcome.charged_items)
    operations, after = posted_in_full(outcome, payers, accounts)
    beyond = beyond_bounds(after, operations)
    if item.quantity > row["granted_quantity"] or beyond:
        outcome = outcome._replace(notifications=(*outcome.notifications, _above_grant(row, item.quantity, beyond)))
    stored = stored_rows(state.counters, state.lives, outcome.counter_changes)
    result = record_settlement(
        uow,
        context,
        catalog_version=loaded.version,
        row_id=row["id"],
        contract=contract,
        item=item,
        outcome=outcome,
        payers=payers,
        operations=operations,
        accounts=after,
        stored=stored,
        batch=batch,
    )
    impacts = merged_impacts(impacts, result, outcome.counter_changes)
    return result, after, state.after(outcome.counter_changes)._replace(session_moves=session_moves(impacts)), impacts


def _above_grant(row: Mapping[str, Any], used: Decimal, beyond: list[AccountId]) -> Notification:
    """The ``usage_above_grant`` notification: the usage went beyond its grant, in quantity, or in money when its
    charge took a balance past its floor or credit limit (``beyond``; rare: a grant is priced as its usage is)."""
    granted = row["granted_quantity"]
    if used > granted:
        message = f"session {row['id']!r} used {used}, above its grant of {granted}; charged in full"
    else:
        message = f"session {row['id']!r} used {used} of its grant of {granted}, charged beyond what it reserved; charged in full"
    if beyond:
        message += f" (past the floor or credit limit of {', '.join(beyond)})"
    data = {"session_id": row["id"], "used_quantity": str(used), "granted_quantity": str(granted), "beyond_bound": ",".join(beyond)}
    return Notification(NotificationKind.USAGE_ABOVE_GRANT, message, data)


def _origin(row: Mapping[str, Any], began: datetime | None) -> tuple[datetime, Decimal] | None:
    """Where the session's next usage begins, with how much had been used then: the date a report gives, else where
    the last granted usage was to resume (none stored: the session's start, see :func:`_session_item`)."""
    if began is not None:
        return began, row["used_quantity"]
    if row["usage_resumes_at"] is not None:
        return row["usage_resumes_at"], row["used_quantity"]
    return None


def _session_item(
    catalog: Catalog, row: Mapping[str, Any], quantity: Decimal, *, used_before: Decimal, origin: tuple[datetime, Decimal] | None = None
) -> TypedItem:
    """The session's item for ``quantity`` of usage that follows ``used_before`` already used.

    Its consumption date: a timed usage starts where the session's earlier usage ended, counted
    from ``origin`` (a date and how much had been used then; default: the session's start and
    nothing), so a schedule prices each report by the windows it really fell in; other
    quantities keep the origin's date.
    """
    item_class = catalog.item_class(row["item_class"])
    if item_class is None:
        raise PrerequisiteMissingError(code=Code.ITEM_CLASS_UNKNOWN, message=f"unknown chargeable item class {row['item_class']!r}")
    properties = {**json.loads(row["properties"]), row["quantity_property"]: _property_value(catalog, row, quantity)}
    unit = item_class.quantity_unit
    started, used_then = origin if origin is not None else (row["consumption_date"], ZERO)
    since = used_before - used_then
    if unit is not None and unit.dimension is Dimension.TIME and since > 0:
        started += timedelta(microseconds=int((unit.to_base(since) * 1_000_000).to_integral_value()))
    return type_item(item_class, ChargeableItem(item_class.name, started, row["service_id"], row["user_id"], properties))


def _property_value(catalog: Catalog, row: Mapping[str, Any], quantity: Decimal) -> object:
    item_class = catalog.item_class(row["item_class"])
    assert item_class is not None
    spec = next(spec for spec in item_class.properties if spec.name == row["quantity_property"])
    if spec.type is PropertyType.INTEGER and quantity != quantity.to_integral_value():
        raise InvalidError(
            code=Code.PROPERTY_INVALID,
            message=f"property {spec.name!r} counts whole units; {quantity} is not a whole number",
            details=(ErrorDetail("expected an integer", ("used_quantity",), Code.PROPERTY_INVALID),),
        )
    return str(quantity)


# ---- the grant: maximum affordable quantity -------------------------------------------------------


# ---- views, inputs, storage faults -------------------------------------------------------------------


def _view(uow: UnitOfWork, row: Mapping[str, Any], *, reservations: list[dict[str, Any]] | None = None) -> SessionView:
    """The view of session ``row``, with its ``reservations`` (each with its account's currency) when already read."""
    reservations_seen, reserved = reservation_views(uow, row["id"], rows=reservations)
    return SessionView(
        session_id=row["id"],
        reservation_id=row["reservation_id"],
        subscriber_account_id=row["subscriber_account_id"],
        contract_id=row["contract_id"],
        service_id=row["service_id"],
        user_id=row["user_id"],
        item_class=row["item_class"],
        quantity_property=row["quantity_property"],
        properties=json.loads(row["properties"]),
        status=SessionStatus(row["status"]),
        default_resolution=Resolution(row["default_resolution"]),
        ttl_ms=row["ttl_ms"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        consumption_date=row["consumption_date"],
        granted_quantity=row["granted_quantity"],
        used_quantity=row["used_quantity"],
        charged_amount=row["charged_amount"],
        reserved_amount=reserved,
        currency=row["currency"],
        reservations=reservations_seen,
        impacts=SessionImpacts.model_validate_json(row["impacts"]),
        version=row["version"],
    )


def _answer(
    view: SessionView,
    *,
    charge: ChargeResult | None = None,
    notifications: list[NotificationView] | None = None,
    refusal: str | None = None,
) -> SessionResult:
    return SessionResult(
        session=view,
        granted_quantity=view.granted_quantity,
        reserved_amount=view.reserved_amount,
        currency=view.currency,
        expires_at=view.expires_at,
        grant_refusal=refusal,
        charge=charge,
        notifications=notifications or [],
    )


def _guarded(work: Callable[[], Result]) -> Result:
    return guarded(work, busy="the session or its account")


def _missing(session_id: str) -> DoesNotExistError:
    return DoesNotExistError(code=Code.NOT_FOUND, message=f"charging session {session_id!r} does not exist")


def _duplicate(session_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"charging session {session_id!r} already exists")

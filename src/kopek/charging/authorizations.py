"""Authorizations: offline requests that only reserve, then are captured, released or expire.

Authorizing an item does every check of an offline charge (item class, properties, access,
contract chargeable, payer accounts chargeable and able to cover it after the live reservations)
and, instead of posting its amount, reserves it against the payer accounts with an expiry: a
pending debit, held like a session's grant (the same reservation rows and counter holds, so every
other charge and grant sees the money and the free units it holds). An authorization is stored as
a charging session of kind ``authorization``.

Resolving it is done once, under the contract lock and then the authorization's row lock, with a
conditional update of its version: a **capture** charges the item (its final quantity may differ
from the authorized one) exactly as an offline charge would, its own reservation released first:
an amount up to the reservation always fits, more only within the account's floor or credit
limit; a **release** frees the reservation; the session clean-up **expires** it with its default
resolution (``cancelled`` releases, ``confirmed`` captures the item as authorized, charged in full
like a confirmed session's last grant). Each is audited in its own commit. A second resolution is
refused (``authorization_already_resolved``); a retry with the first call's idempotency key answers
the first result.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa

from kopek import limits
from kopek.charging.authorization_views import (
    STATUS_OF_SESSION,
    AuthorizationResult,
    AuthorizationView,
    Authorize,
    Capture,
    item_info,
)
from kopek.charging.offline import (
    STORAGE_RETRY_AFTER_SECONDS,
    ChargeCommand,
    ChargingContext,
    access_not_found,
    canonical_value,
    chargeable_contract_by_id,
    post_to_accounts,
    typed_item,
)
from kopek.charging.quantities import checked_quantity
from kopek.charging.rating_state import load_rating_state
from kopek.charging.resolutions import guarded, locked_for_a_step, posted_in_full, record_settlement, reservation_views
from kopek.charging.results import ChargeResult
from kopek.charging.session_impacts import held_impacts
from kopek.charging.session_retries import SessionRequest, session_request, stored_answer
from kopek.charging.session_views import Resolution, SessionImpacts, SessionStatus
from kopek.domain.accounts import resolve_payers
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import AccountId, Contract
from kopek.errors import (
    AlreadyExistsError,
    Code,
    DoesNotExistError,
    ErrorDetail,
    IllegalStateError,
    InvalidError,
    PrerequisiteMissingError,
    TemporaryIllegalStateError,
)
from kopek.money import ZERO, rating_context
from kopek.rating.grant import session_currency
from kopek.rating.outcome import ChargedItem
from kopek.rating.rate import rate_item
from kopek.store.session_store import AUTHORIZATION
from kopek.store.uow import UnitOfWork

Result = TypeVar("Result")


class _Step(Enum):
    """How one call resolves a live authorization."""

    CAPTURE = "capture"
    RELEASE = "release"
    EXPIRE = "expire"


_ENDS = {_Step.CAPTURE: SessionStatus.STOPPED, _Step.RELEASE: SessionStatus.CANCELLED, _Step.EXPIRE: SessionStatus.EXPIRED}
_AUDITED = {_Step.CAPTURE: "authorization.capture", _Step.RELEASE: "authorization.release", _Step.EXPIRE: "authorization.expire"}


# ---- the use cases ----------------------------------------------------------------------------


def authorize(command: Authorize, context: ChargingContext, *, actor: str = "system") -> AuthorizationResult:
    """Reserve the amount of the command's item against its payer accounts, all or nothing; audited as ``actor``'s."""
    if not limits.SESSION_TTL_MS_MIN <= command.ttl_ms <= limits.SESSION_TTL_MS_MAX:
        raise InvalidError(
            code=Code.SESSION_TTL_OUT_OF_BOUNDS,
            message=f"an authorization's time to live is {limits.SESSION_TTL_MS_MIN} to {limits.SESSION_TTL_MS_MAX} ms, "
            f"not {command.ttl_ms}",
            details=(ErrorDetail("out of bounds", ("ttl_ms",), Code.SESSION_TTL_OUT_OF_BOUNDS),),
        )
    request = session_request(command.idempotency_key, "authorize", command.reservation_id or "", _identity(command))
    try:
        return _guarded(lambda: _authorize(command, context, request, actor))
    except sa.exc.IntegrityError as error:
        # The same reservation id, or the same idempotency key, committed first: a retry gets the first answer.
        replay = _replayed_after_conflict(context.engine, request)
        if replay is not None:
            return replay
        raise _duplicate(command.reservation_id or "") from error


def capture(command: Capture, context: ChargingContext, *, actor: str = "system") -> AuthorizationResult:
    """Charge the authorized item (with its final quantity, if given), release the reservation, end the authorization."""
    quantity = checked_quantity(command.quantity, "quantity") if command.quantity is not None else None
    request = session_request(command.idempotency_key, "capture", command.reservation_id, {"quantity": str(quantity)})
    return _answered_once(
        context.engine,
        request,
        lambda: _guarded(lambda: _resolve(context, command.reservation_id, _Step.CAPTURE, quantity, request, actor)),
    )


def release(
    reservation_id: str, context: ChargingContext, *, idempotency_key: str | None = None, actor: str = "system"
) -> AuthorizationResult:
    """Release the authorization's reservation without charging anything, and end it."""
    request = session_request(idempotency_key, "release", reservation_id, {})
    return _answered_once(
        context.engine, request, lambda: _guarded(lambda: _resolve(context, reservation_id, _Step.RELEASE, None, request, actor))
    )


def read_authorization(reservation_id: str, context: ChargingContext) -> AuthorizationView:
    with UnitOfWork(context.engine, writes=False) as uow:
        row = uow.sessions.get(reservation_id)
        if row is None or row["kind"] != AUTHORIZATION:
            raise _missing(reservation_id)
        return _view(uow, row)


def expire_claimed(uow: UnitOfWork, context: ChargingContext, claimed: dict[str, Any]) -> None:
    """Resolve an authorization the session clean-up claimed (expired, live, locked) with its default resolution,
    inside the clean-up's unit of work."""
    _advance(uow, context, claimed, _Step.EXPIRE, None, actor="cleanup")


# ---- authorize ---------------------------------------------------------------------------------


def _authorize(command: Authorize, context: ChargingContext, request: SessionRequest | None, actor: str) -> AuthorizationResult:
    with UnitOfWork(context.engine) as uow:
        replay = _replayed(uow, request)
        if replay is not None:
            return replay
        catalog = context.catalogs.current(uow)
        item = typed_item(catalog.catalog, ChargeCommand(command.item))
        access = uow.master.find_access(item.service_id, item.user_id, item.consumption_date)
        if access is None:
            raise access_not_found(item)
        reservation_id = command.reservation_id or context.new_id()
        # Starts of sessions and authorizations naming one reservation id wait for each other here, before the contract
        # lock, in the order of a session's start.
        uow.sessions.lock_reservation(reservation_id)
        if uow.sessions.get(reservation_id) is not None:
            raise _duplicate(reservation_id)
        contract = chargeable_contract_by_id(uow, access.contract_id, item.consumption_date)
        state = load_rating_state(uow, catalog.catalog, contract)
        outcome = rate_item(catalog.catalog, state, item)
        payers = resolve_payers(contract, outcome.charged_items)
        accounts = uow.master.lock_accounts(contract.roles.values())
        # The charge's own checks (accounts chargeable, currencies, floors and credit limits after the live
        # reservations): an authorization reserves only what charging the item now would take.
        post_to_accounts(outcome, payers, {payer: accounts[payer] for payer in sorted(set(payers))}, uow.sessions.reserved(accounts))
        amounts = _per_payer(outcome.charged_items, payers)
        now = context.clock()
        expires_at = now + timedelta(milliseconds=command.ttl_ms)
        with decimal.localcontext(rating_context()):
            authorized = sum(amounts.values(), ZERO)
        uow.sessions.insert(
            {
                "id": reservation_id,
                "reservation_id": reservation_id,
                "kind": AUTHORIZATION,
                "subscriber_account_id": contract.subscriber_account_id,
                "contract_id": contract.id,
                "service_id": item.service_id,
                "user_id": item.user_id,
                "item_class": item.item_class.name,
                "quantity_property": item.item_class.quantity or "",
                "properties": json.dumps({name: canonical_value(value) for name, value in item.properties.items()}, sort_keys=True),
                "status": SessionStatus.ACTIVE.value,
                "default_resolution": command.default_resolution.value,
                "ttl_ms": command.ttl_ms,
                "started_at": now,
                "updated_at": now,
                "expires_at": expires_at,
                "consumption_date": item.consumption_date,
                "granted_quantity": item.quantity,
                "used_quantity": ZERO,
                "charged_amount": ZERO,
                "authorized_amount": authorized,
                "currency": session_currency(catalog.catalog, contract, item),
                "impacts": SessionImpacts(held_counters=held_impacts(outcome.counter_changes)).model_dump_json(),
                "version": 1,
            }
        )
        uow.sessions.replace_reservations(reservation_id, amounts, expires_at=expires_at)
        uow.sessions.replace_holds(reservation_id, outcome.counter_changes)
        row = uow.sessions.get(reservation_id)
        assert row is not None
        result = AuthorizationResult(authorization=_view(uow, row))
        details = {"contract_id": contract.id, "amount": str(authorized), "expires_at": expires_at.isoformat()}
        uow.audit.record(at=now, actor=actor, action="authorization.create", target=f"reservation/{reservation_id}", details=details)
        _remember(uow, request, result, at=now)
        uow.commit()
    return result


def _identity(command: Authorize) -> dict[str, object]:
    """What identifies an authorize call, beyond its reservation id."""
    item = command.item
    return {
        "item_class": item.item_class,
        "service_id": item.service_id,
        "user_id": item.user_id,
        "consumption_date": item.consumption_date.astimezone(UTC).isoformat(),
        "properties": {name: str(value) for name, value in sorted(item.properties.items())},
        "ttl_ms": command.ttl_ms,
        "default_resolution": command.default_resolution.value,
    }


# ---- capture, release, expire ------------------------------------------------------------------


def _resolve(
    context: ChargingContext, reservation_id: str, step: _Step, quantity: Decimal | None, request: SessionRequest | None, actor: str
) -> AuthorizationResult:
    with UnitOfWork(context.engine) as uow:
        replay = _replayed(uow, request)
        if replay is not None:
            return replay
        found = uow.sessions.get(reservation_id)
        if found is None or found["kind"] != AUTHORIZATION:
            raise _missing(reservation_id)
        result = _advance(uow, context, found, step, quantity, actor=actor)
        _remember(uow, request, result, at=context.clock())
        uow.commit()
    return result


def _advance(
    uow: UnitOfWork, context: ChargingContext, found: dict[str, Any], step: _Step, quantity: Decimal | None, *, actor: str
) -> AuthorizationResult:
    """Resolve a live authorization: lock it (contract first), charge it when capturing, free its reservation and holds."""
    charges = step is _Step.CAPTURE or (step is _Step.EXPIRE and found["default_resolution"] == Resolution.CONFIRMED.value)
    contract, row = locked_for_a_step(uow, found, charges=charges)
    if row["status"] != SessionStatus.ACTIVE.value:
        status = STATUS_OF_SESSION[SessionStatus(row["status"])].value
        raise IllegalStateError(
            code=Code.AUTHORIZATION_ALREADY_RESOLVED, message=f"authorization {row['id']!r} was already resolved ({status})"
        )
    charge: ChargeResult | None = None
    captured = ZERO
    if charges:
        item = _stored_item(context, uow, row, quantity)
        charge = _charge(uow, context, row, contract, item, bounded=step is _Step.CAPTURE)
        captured = item.quantity
    now = context.clock()
    with decimal.localcontext(rating_context()):
        charged = sum((line.amount for line in charge.charged_items or []), ZERO) if charge is not None else ZERO
    values = {"status": _ENDS[step].value, "updated_at": now, "used_quantity": captured, "charged_amount": charged}
    values["impacts"] = SessionImpacts().model_dump_json()
    if not uow.sessions.update(row["id"], row["version"], values):
        raise TemporaryIllegalStateError(
            code=Code.STORAGE_BUSY,
            message=f"authorization {row['id']!r} changed meanwhile; retry",
            retry_after_seconds=STORAGE_RETRY_AFTER_SECONDS,
        )
    uow.sessions.replace_reservations(row["id"], {}, expires_at=row["expires_at"])
    uow.sessions.replace_holds(row["id"], ())
    details = {"contract_id": contract.id, "charged_amount": str(charged), "operation_id": charge.operation_id if charge else None}
    uow.audit.record(at=now, actor=actor, action=_AUDITED[step], target=f"reservation/{row['id']}", details=details)
    updated = uow.sessions.get(row["id"])
    assert updated is not None
    return AuthorizationResult(authorization=_view(uow, updated), charge=charge)


def _stored_item(context: ChargingContext, uow: UnitOfWork, row: dict[str, Any], quantity: Decimal | None) -> TypedItem:
    """The authorized item, typed against its class in the current catalog; ``quantity`` as its quantity when given."""
    catalog = context.catalogs.current(uow).catalog
    item_class = catalog.item_class(row["item_class"])
    if item_class is None:
        raise PrerequisiteMissingError(code=Code.ITEM_CLASS_UNKNOWN, message=f"unknown chargeable item class {row['item_class']!r}")
    properties = json.loads(row["properties"])
    if quantity is not None:
        if item_class.quantity is None:
            raise InvalidError(
                code=Code.ITEM_CLASS_WITHOUT_QUANTITY,
                message=f"item class {item_class.name!r} has no quantity property; a capture cannot change its quantity",
                details=(ErrorDetail("the item class has no quantity", ("quantity",), Code.ITEM_CLASS_WITHOUT_QUANTITY),),
            )
        properties[item_class.quantity] = str(quantity)
    raw = ChargeableItem(item_class.name, row["consumption_date"], row["service_id"], row["user_id"], properties)
    return type_item(item_class, raw)


def _charge(
    uow: UnitOfWork, context: ChargingContext, row: dict[str, Any], contract: Contract, item: TypedItem, *, bounded: bool
) -> ChargeResult:
    """Charge ``item`` as an offline charge would, the authorization's own reservation and holds left out first.

    ``bounded``: within the payer accounts' floors and credit limits (a capture; refused otherwise); unbounded for an
    expiry confirmed by the clean-up, which charges in full, as a confirmed session's last grant is."""
    catalog = context.catalogs.current(uow)
    state = load_rating_state(uow, catalog.catalog, contract, session_id=row["id"])
    outcome = rate_item(catalog.catalog, state, item)
    payers = resolve_payers(contract, outcome.charged_items)
    accounts = uow.master.lock_accounts(contract.roles.values())
    before = {payer: accounts[payer] for payer in sorted(set(payers))}
    if bounded:
        operations, after = post_to_accounts(outcome, payers, before, uow.sessions.reserved(accounts, excluding=[row["id"]]))
    else:
        operations, after = posted_in_full(outcome, payers, before)
    return record_settlement(
        uow,
        context,
        catalog_version=catalog.version,
        row_id=row["id"],
        contract=contract,
        item=item,
        outcome=outcome,
        payers=payers,
        operations=operations,
        accounts=after,
    )


# ---- views, retries, storage faults ------------------------------------------------------------


def _view(uow: UnitOfWork, row: dict[str, Any]) -> AuthorizationView:
    reservations, reserved = reservation_views(uow, row["id"])
    status = SessionStatus(row["status"])
    return AuthorizationView(
        reservation_id=row["id"],
        status=STATUS_OF_SESSION[status],
        default_resolution=Resolution(row["default_resolution"]),
        subscriber_account_id=row["subscriber_account_id"],
        contract_id=row["contract_id"],
        item=item_info(row, json.loads(row["properties"])),
        authorized_quantity=row["granted_quantity"],
        authorized_amount=row["authorized_amount"],
        reserved_amount=reserved,
        captured_quantity=row["used_quantity"],
        charged_amount=row["charged_amount"],
        currency=row["currency"],
        reservations=reservations,
        ttl_ms=row["ttl_ms"],
        created_at=row["started_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


def _per_payer(charged_items: Sequence[ChargedItem], payers: Sequence[AccountId]) -> dict[AccountId, Decimal]:
    totals: dict[AccountId, Decimal] = {}
    with decimal.localcontext(rating_context()):
        for line, payer in zip(charged_items, payers, strict=True):
            totals[payer] = totals.get(payer, ZERO) + line.amount
    return totals


def _replayed(uow: UnitOfWork, request: SessionRequest | None) -> AuthorizationResult | None:
    """The first answer to a call made with this request's key; a different call under the key is refused."""
    stored = stored_answer(uow, request, call="authorization call")
    return AuthorizationResult.model_validate(stored).model_copy(update={"replayed": True}) if stored is not None else None


def _remember(uow: UnitOfWork, request: SessionRequest | None, result: AuthorizationResult, *, at: datetime) -> None:
    if request is None:
        return
    session_id = result.authorization.reservation_id
    values = {"session_id": session_id, "step": request.step, "request_hash": request.digest, "result": result.model_dump_json()}
    uow.sessions.insert_request({"idempotency_key": request.key, **values, "created_at": at})


def _replayed_after_conflict(engine: sa.Engine, request: SessionRequest | None) -> AuthorizationResult | None:
    if request is None:
        return None
    with UnitOfWork(engine, writes=False) as uow:
        return _replayed(uow, request)


def _answered_once(engine: sa.Engine, request: SessionRequest | None, work: Callable[[], AuthorizationResult]) -> AuthorizationResult:
    """Run ``work``; when a call with the same key committed first, answer with its result."""
    try:
        return work()
    except sa.exc.IntegrityError:
        answer = _replayed_after_conflict(engine, request)
        if answer is None:
            raise
        return answer


def _guarded(work: Callable[[], Result]) -> Result:
    return guarded(work, busy="the authorization or its account")


def _missing(reservation_id: str) -> DoesNotExistError:
    return DoesNotExistError(code=Code.NOT_FOUND, message=f"authorization {reservation_id!r} does not exist")


def _duplicate(reservation_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"reservation {reservation_id!r} already exists")

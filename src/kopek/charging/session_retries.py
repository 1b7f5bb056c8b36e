"""Retries of session calls: an idempotency key makes start, update, stop, cancel and the stop
of a multiservice session answer a retry with the first result, stored with the key in the
call's own commit (docs/sessions.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import TypeAdapter

from kopek.charging.session_views import SessionResult, StartSession
from kopek.errors import AlreadyExistsError, Code
from kopek.store.driver_batch import DriverBatch
from kopek.store.uow import UnitOfWork

Answer = TypeVar("Answer", SessionResult, list[SessionResult])

_ANSWERS = TypeAdapter(list[SessionResult])


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A session call made with an idempotency key, and the digest that tells a retry from a different call."""

    key: str
    step: str
    session_id: str
    digest: str


def session_request(key: str | None, step: str, session_id: str, fields: Mapping[str, object]) -> SessionRequest | None:
    """The request to remember for a call with ``key`` (none without a key)."""
    if key is None:
        return None
    canonical = json.dumps({"step": step, "session_id": session_id, **fields}, sort_keys=True, default=str)
    return SessionRequest(key, step, session_id, hashlib.sha256(canonical.encode()).hexdigest())


def start_fields(command: StartSession) -> dict[str, object]:
    """What identifies a start call, beyond its session id."""
    return {
        "item_class": command.item_class,
        "service_id": command.service_id,
        "user_id": command.user_id,
        "consumption_date": command.consumption_date.astimezone(UTC).isoformat(),
        "ttl_ms": command.ttl_ms,
        "quantity_property": command.quantity_property,
        "properties": {name: str(value) for name, value in sorted(command.properties.items())},
        "requested": str(command.requested_quantity),
        "default_resolution": command.default_resolution.value,
        "reservation_id": command.reservation_id,
    }


def replayed(uow: UnitOfWork, request: SessionRequest | None) -> SessionResult | None:
    """The first answer to a call made with this request's key; a different call under the key is refused."""
    return _replay_of(uow, stored_answer(uow, request))


def replayed_from(uow: UnitOfWork, request: SessionRequest | None, stored: tuple[str, str] | None) -> SessionResult | None:
    """:func:`replayed`, from the (request hash, result) stored under the key, read by the caller with the key's lock."""
    return _replay_of(uow, _checked(request, stored, "session call") if request is not None else None)


def _replay_of(uow: UnitOfWork, stored: Any) -> SessionResult | None:
    if stored is None:
        return None
    return SessionResult.model_validate(_with_currency(uow, stored)).model_copy(update={"replayed": True})


def replayed_all(uow: UnitOfWork, request: SessionRequest | None) -> list[SessionResult] | None:
    """The first answers to a call answering several sessions (a multiservice stop) made with this request's key."""
    stored = stored_answer(uow, request)
    if stored is None:
        return None
    assert isinstance(stored, list), "a multiservice stop stores the list of its answers"
    return [SessionResult.model_validate(_with_currency(uow, answer)).model_copy(update={"replayed": True}) for answer in stored]


def stored_answer(uow: UnitOfWork, request: SessionRequest | None, *, call: str = "session call") -> Any:
    """The first answer (as JSON data) to a call made with this request's key, none if there was none; a different
    ``call`` under the key is refused."""
    if request is None:
        return None
    return _checked(request, uow.sessions.request_by_key(request.key), call)


def _checked(request: SessionRequest, stored: tuple[str, str] | None, call: str) -> Any:
    """The stored answer (as JSON data) if ``stored`` answers this request; refused if it answers another call."""
    if stored is None:
        return None
    digest, result = stored
    if digest != request.digest:
        raise AlreadyExistsError(
            code=Code.IDEMPOTENCY_KEY_REUSED, message=f"idempotency key {request.key!r} was already used for a different {call}"
        )
    return json.loads(result)


def _with_currency(uow: UnitOfWork, answer: dict[str, Any]) -> dict[str, Any]:
    """An answer stored before sessions kept their currency (revision 0016), given the session's."""
    if "currency" in answer:
        return answer
    row = uow.sessions.get(answer["session"]["session_id"])
    assert row is not None, "a stored answer names a session that exists"
    currency = row["currency"]
    reservations = [reservation | {"currency": currency} for reservation in answer["session"]["reservations"]]
    return answer | {"currency": currency, "session": answer["session"] | {"currency": currency, "reservations": reservations}}


def remember(uow: UnitOfWork, request: SessionRequest | None, result: SessionResult | list[SessionResult], *, at: datetime) -> None:
    """Store ``result`` (the answers, for a multiservice stop) under the request's key, in the call's unit of work."""
    if request is not None:
        uow.sessions.insert_request(_request_row(request, result, at=at))


def remembered_and_committed(
    uow: UnitOfWork, request: SessionRequest | None, result: SessionResult, *, at: datetime, batch: DriverBatch
) -> None:
    """Send ``batch`` (the call's writes) and commit the call's unit of work, storing ``result`` under the request's key
    with them (on PostgreSQL the writes, the answer and COMMIT go together: :meth:`kopek.store.uow.UnitOfWork.commit_with`)."""
    if request is not None:
        uow.sessions.queue_request(batch, _request_row(request, result, at=at))
    uow.commit_with(batch)


def _request_row(request: SessionRequest, result: SessionResult | list[SessionResult], *, at: datetime) -> dict[str, Any]:
    text = _ANSWERS.dump_json(result).decode() if isinstance(result, list) else result.model_dump_json()
    values = {"session_id": request.session_id, "step": request.step, "request_hash": request.digest}
    return {"idempotency_key": request.key, **values, "result": text, "created_at": at}


def replayed_after_conflict(engine: sa.Engine, request: SessionRequest | None) -> SessionResult | None:
    """After a unique-key conflict: the answer of the call with the same key that committed first."""
    if request is None:
        return None
    with UnitOfWork(engine, writes=False) as uow:
        return replayed(uow, request)


def answered_once(
    engine: sa.Engine,
    request: SessionRequest | None,
    work: Callable[[], Answer],
    replay: Callable[[UnitOfWork, SessionRequest | None], Answer | None],
) -> Answer:
    """Run ``work``; when a call with the same key committed first (the key's unique constraint, a last guard behind
    the key's lock), answer with its result (``replay``)."""
    try:
        return work()
    except sa.exc.IntegrityError:
        if request is None:
            raise
        with UnitOfWork(engine, writes=False) as uow:
            answer = replay(uow, request)
        if answer is None:
            raise
        return answer

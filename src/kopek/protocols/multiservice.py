"""One protocol session (an Nchf charging data resource, a Gy credit-control session) as charging sessions:
one per rating group, all sharing the protocol session's reference as their reservation id.

Each request of the protocol session carries a sequence number (Nchf ``invocationSequenceNumber``,
Diameter CC-Request-Number). A request is answered once: its answer is stored under that number,
a retransmission gets it again, and a new request must carry the next number. The session commands
of a request carry idempotency keys made of the protocol session, the number and the rating group,
so a request retried after a failure half way charges nothing twice (docs/protocols.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import sqlalchemy as sa

from kopek.charging.session_views import SessionResult, StartSession, StopSession, UpdateSession
from kopek.engine import Engine
from kopek.errors import (
    AlreadyExistsError,
    Category,
    Code,
    DoesNotExistError,
    ErrorDetail,
    InvalidError,
    KopekError,
    PrerequisiteMissingError,
    Reason,
)
from kopek.protocols.answers import ExchangeAnswer, RatingGroupAnswer, ResultCode, UnitReport, refusal_code, result_code_of
from kopek.protocols.mapping import ProtocolMapping, RatingGroupRule
from kopek.store.protocol_store import OPEN
from kopek.store.uow import UnitOfWork

logger = logging.getLogger("kopek.protocols")

CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request of protocol session ``session``: its number, its digest, when it was made."""

    protocol: str
    session: str
    sequence: int
    digest: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What a one-off request did: per rating group, and the amount it debited, refunded or priced."""

    rating_groups: list[RatingGroupAnswer]
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(slots=True)
class _Context:
    """What the rating groups of one request share: the subscriber, the stored rating groups, what changes."""

    exchange: Exchange
    subscriber: str | None
    known: dict[int, dict[str, Any]]
    notification_mark: int
    written: list[dict[str, Any]] = field(default_factory=list)
    amount: Decimal | None = None
    currency: str | None = None


class MultiserviceAdapter:
    """Opens, updates and closes protocol sessions through the session commands of an :class:`Engine`."""

    def __init__(self, engine: Engine, mapping: ProtocolMapping) -> None:
        self.engine = engine
        self.mapping = mapping

    # ---- the three steps ------------------------------------------------------------------------

    def open(
        self, exchange: Exchange, identifiers: list[str | None], reports: Iterable[UnitReport], *, notify_uri: str | None = None
    ) -> ExchangeAnswer:
        """Create the protocol session and start a charging session per rating group reported."""
        subscriber = self.subscriber(identifiers)

        def work(context: _Context) -> list[RatingGroupAnswer]:
            return [self._rating_group(context, report) for report in reports]

        return self._answered(exchange, work, creating=(subscriber, notify_uri))

    def update(self, exchange: Exchange, reports: Iterable[UnitReport]) -> ExchangeAnswer:
        """Charge each rating group's usage and grant its next quota (starting the sessions of new rating groups)."""

        def work(context: _Context) -> list[RatingGroupAnswer]:
            return [self._rating_group(context, report) for report in reports]

        return self._answered(exchange, work)

    def close(self, exchange: Exchange, reports: Iterable[UnitReport]) -> ExchangeAnswer:
        """Charge the final usage of every rating group and end their sessions and the protocol session."""
        by_group = {report.rating_group: report for report in reports}

        def work(context: _Context) -> list[RatingGroupAnswer]:
            answers: dict[int, RatingGroupAnswer] = {}
            for group, report in by_group.items():
                if group not in context.known:
                    # Usage of a rating group without a live session is charged through one, stopped below.
                    answers[group] = self._rating_group(context, replace(report, quota_wanted=False, requested=None))
            for group in sorted(context.known):
                report = UnitReport(group) if group in answers else by_group.get(group, UnitReport(group))
                stopped = self._stop(context, group, report)
                if group not in answers or stopped.result_code is not ResultCode.SUCCESS:
                    answers[group] = stopped
            return [answers[group] for group in sorted(answers)]

        return self._answered(exchange, work, closing=True)

    def event(self, exchange: Exchange, identifiers: list[str | None], act: Callable[[str | None], EventOutcome]) -> ExchangeAnswer:
        """A one-off request (a Diameter EVENT): ``act`` does it for the subscriber; answered once, like the steps."""
        subscriber = self.subscriber(identifiers)

        def work(context: _Context) -> list[RatingGroupAnswer]:
            outcome = act(subscriber)
            context.amount, context.currency = outcome.amount, outcome.currency
            return outcome.rating_groups

        return self._answered(exchange, work, creating=(subscriber, None), closing=True)

    # ---- one request, answered once ---------------------------------------------------------------

    def _answered(
        self,
        exchange: Exchange,
        work: Callable[[_Context], list[RatingGroupAnswer]],
        *,
        creating: tuple[str | None, str | None] | None = None,
        closing: bool = False,
    ) -> ExchangeAnswer:
        context_or_answer = self._prepared(exchange, creating=creating is not None)
        if isinstance(context_or_answer, ExchangeAnswer):
            return context_or_answer
        context = context_or_answer
        if creating is not None:
            context.subscriber = creating[0]
        answers = work(context)
        answer = ExchangeAnswer(
            session=exchange.session,
            sequence=exchange.sequence,
            answered_at=exchange.at,
            rating_groups=answers,
            amount=context.amount,
            currency=context.currency,
        )
        return self._recorded(context, answer, creating=creating, closing=closing)

    def _prepared(self, exchange: Exchange, *, creating: bool) -> _Context | ExchangeAnswer:
        """The stored answer of a retransmission, or what a new request needs; a request out of order is refused."""
        with UnitOfWork(self.engine.database, writes=False) as uow:
            stored = uow.protocols.exchange(exchange.protocol, exchange.session, exchange.sequence)
            if stored is not None:
                return _replay(exchange, stored)
            session = uow.protocols.session(exchange.protocol, exchange.session)
            if creating and session is not None:
                raise AlreadyExistsError(
                    code=Code.ALREADY_EXISTS, message=f"{exchange.protocol} session {exchange.session!r} already exists"
                )
            if not creating:
                if session is None or session["status"] != OPEN:
                    raise DoesNotExistError(code=Code.NOT_FOUND, message=f"{exchange.protocol} session {exchange.session!r} does not exist")
                if exchange.sequence != session["last_sequence"] + 1:
                    raise _out_of_order(exchange, session["last_sequence"] + 1)
            known = uow.protocols.rating_groups(exchange.protocol, exchange.session)
            mark = uow.protocols.newest_notification_id()
            subscriber = session["subscriber"] if session is not None else None
        return _Context(exchange, subscriber or None, known, mark)

    def _recorded(
        self, context: _Context, answer: ExchangeAnswer, *, creating: tuple[str | None, str | None] | None, closing: bool
    ) -> ExchangeAnswer:
        exchange = context.exchange
        try:
            with UnitOfWork(self.engine.database) as uow:
                values = {"last_sequence": exchange.sequence, "updated_at": exchange.at} | ({"status": CLOSED} if closing else {})
                if creating is not None:
                    uow.protocols.insert_session(
                        {
                            "protocol": exchange.protocol,
                            "id": exchange.session,
                            "subscriber": creating[0] or "",
                            "notify_uri": creating[1],
                            "status": CLOSED if closing else OPEN,
                            "last_sequence": exchange.sequence,
                            "created_at": exchange.at,
                            "updated_at": exchange.at,
                        }
                    )
                else:
                    uow.protocols.update_session(exchange.protocol, exchange.session, values)
                uow.protocols.write_rating_groups(exchange.protocol, exchange.session, context.written)
                uow.protocols.insert_exchange(
                    {
                        "protocol": exchange.protocol,
                        "session": exchange.session,
                        "sequence": exchange.sequence,
                        "request_hash": exchange.digest,
                        "answer": answer.model_dump_json(),
                        "created_at": exchange.at,
                    }
                )
                uow.commit()
        except sa.exc.IntegrityError:
            # A retransmission racing this request was answered first: answer what it answered.
            with UnitOfWork(self.engine.database, writes=False) as uow:
                stored = uow.protocols.exchange(exchange.protocol, exchange.session, exchange.sequence)
            if stored is None:
                raise
            return _replay(exchange, stored)
        return answer

    # ---- one rating group ---------------------------------------------------------------------------

    def subscriber(self, identifiers: list[str | None]) -> str | None:
        """The first identifier a subscriber rule matches (none: every rating group is USER_UNKNOWN)."""
        for identifier in identifiers:
            if identifier is not None and self.mapping.access([identifier]) is not None:
                return identifier
        return None

    def _rating_group(self, context: _Context, report: UnitReport) -> RatingGroupAnswer:
        rule = self.mapping.rating_group(report.rating_group)
        if rule is None:
            return _refused(report, ResultCode.RATING_FAILED, f"rating group {report.rating_group} is not in the protocol mapping")
        if not rule.quota_management:
            return RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.QUOTA_MANAGEMENT_NOT_APPLICABLE)
        requested = (report.requested or rule.default_quota) if report.quota_wanted else Decimal(0)
        try:
            result = self._granted(context, report, rule, requested)
        except KopekError as error:
            if error.category is Category.TEMPORARY_ILLEGAL_STATE:
                raise
            code = result_code_of(error)
            self._remember(context, report.rating_group, None, None, final=code is ResultCode.QUOTA_LIMIT_REACHED)
            return _refused(report, code, error.message, rule if code is ResultCode.QUOTA_LIMIT_REACHED else None)
        return self._grant_answer(context, report, rule, requested, result)

    def _granted(self, context: _Context, report: UnitReport, rule: RatingGroupRule, requested: Decimal) -> SessionResult:
        """Update the rating group's live session, or start one (then charge the usage reported with it)."""
        exchange = context.exchange
        key = f"{exchange.protocol}:{exchange.session}:{exchange.sequence}:{report.rating_group}"
        current = context.known.get(report.rating_group)
        if current is not None:
            try:
                return self.engine.update_session(UpdateSession(current["session_id"], report.used, requested, idempotency_key=f"{key}:u"))
            except KopekError as error:
                if error.code is not Code.SESSION_ALREADY_ENDED:
                    raise
                # Its session expired meanwhile (the clean-up ended it): the rating group starts afresh.
        session_id = f"{exchange.session}/{report.rating_group}/{exchange.sequence}"
        started = self.engine.start_session(self._start(context, rule, session_id, Decimal(0) if report.used else requested, f"{key}:s"))
        context.known[report.rating_group] = {"session_id": session_id}
        if not report.used:
            return started
        return self.engine.update_session(UpdateSession(session_id, report.used, requested, idempotency_key=f"{key}:u"))

    def _start(self, context: _Context, rule: RatingGroupRule, session_id: str, requested: Decimal, key: str) -> StartSession:
        access = self.mapping.access([context.subscriber], rule) if context.subscriber is not None else None
        if access is None:
            raise _no_access(context.subscriber)
        item_class = self.engine.catalog().catalog.item_class(rule.item_class)
        if item_class is None or item_class.quantity is None or item_class.quantity_unit is not rule.unit.unit:
            raise InvalidError(
                code=Code.SESSION_QUANTITY_PROPERTY_MISMATCH,
                message=f"item class {rule.item_class!r} has no quantity in {rule.unit.unit.value}, as rating groups of unit "
                f"{rule.unit.value} need",
            )
        return StartSession(
            session_id=session_id,
            item_class=rule.item_class,
            service_id=access[0],
            user_id=access[1],
            consumption_date=context.exchange.at,
            ttl_ms=self.mapping.session_ttl_ms,
            quantity_property=item_class.quantity,
            properties={name: str(value) if not isinstance(value, bool) else value for name, value in rule.properties.items()},
            requested_quantity=requested,
            default_resolution=self.mapping.default_resolution,
            reservation_id=context.exchange.session,
            idempotency_key=key,
        )

    def _grant_answer(
        self, context: _Context, report: UnitReport, rule: RatingGroupRule, requested: Decimal, result: SessionResult
    ) -> RatingGroupAnswer:
        granted = result.granted_quantity
        if not report.quota_wanted:
            self._remember(context, report.rating_group, result, None, final=False)
            return RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.SUCCESS)
        if granted == 0:
            code = refusal_code(result.grant_refusal or "")
            self._remember(context, report.rating_group, result, None, final=code is ResultCode.QUOTA_LIMIT_REACHED)
            return _refused(report, code, result.grant_refusal, rule if code is ResultCode.QUOTA_LIMIT_REACHED else None)
        final = granted < requested
        self._remember(context, report.rating_group, result, None, final=final)
        threshold = (granted * self.mapping.quota_threshold_percent / 100).to_integral_value(rounding=ROUND_FLOOR)
        return RatingGroupAnswer(
            rating_group=report.rating_group,
            result_code=ResultCode.SUCCESS,
            unit=rule.unit,
            granted=granted,
            validity_time_seconds=self.mapping.validity_time_seconds,
            quota_threshold=threshold if threshold > 0 else None,
            final_unit=rule.final_unit if final else None,
        )

    def _stop(self, context: _Context, group: int, report: UnitReport) -> RatingGroupAnswer:
        exchange = context.exchange
        key = f"{exchange.protocol}:{exchange.session}:{exchange.sequence}:{group}:t"
        try:
            self.engine.stop_session(StopSession(context.known[group]["session_id"], report.used, idempotency_key=key))
        except KopekError as error:
            if error.category is Category.TEMPORARY_ILLEGAL_STATE:
                raise
            if error.code is not Code.SESSION_ALREADY_ENDED:
                return _refused(report, result_code_of(error), error.message)
        self._remember(context, group, None, context.known[group]["session_id"], final=False)
        return RatingGroupAnswer(rating_group=group, result_code=ResultCode.SUCCESS)

    def _remember(self, context: _Context, group: int, result: SessionResult | None, session_id: str | None, *, final: bool) -> None:
        """What to store of the rating group once the request is answered: its session and whether its grant was final."""
        known = context.known.get(group)
        session_id = session_id or (result.session.session_id if result is not None else known["session_id"] if known else None)
        if session_id is None:
            return
        contract_id = result.session.contract_id if result is not None else (known or {}).get("contract_id")
        context.written.append(
            {
                "rating_group": group,
                "session_id": session_id,
                "contract_id": contract_id,
                "final_grant": final,
                "notification_mark": context.notification_mark if final else None,
                "notified_at": None,
            }
        )


def _refused(report: UnitReport, code: ResultCode, message: str | None, rule: RatingGroupRule | None = None) -> RatingGroupAnswer:
    return RatingGroupAnswer(
        rating_group=report.rating_group,
        result_code=code,
        final_unit=rule.final_unit if rule is not None else None,
        message=message,
    )


def _replay(exchange: Exchange, stored: tuple[str, str]) -> ExchangeAnswer:
    digest, answer = stored
    if digest != exchange.digest:
        raise InvalidError(
            code=Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER,
            message=f"request {exchange.sequence} of {exchange.protocol} session {exchange.session!r} was already answered "
            "for a different request",
            details=(ErrorDetail("already used", ("sequence",), Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER),),
        )
    return ExchangeAnswer.model_validate_json(answer).model_copy(update={"replayed": True})


def _out_of_order(exchange: Exchange, expected: int) -> InvalidError:
    return InvalidError(
        code=Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER,
        message=f"{exchange.protocol} session {exchange.session!r} expects request number {expected}, not {exchange.sequence}",
        details=(ErrorDetail(f"expected {expected}", ("sequence",), Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER),),
    )


def _no_access(subscriber: str | None) -> KopekError:
    return PrerequisiteMissingError(
        code=Code.ACCESS_NOT_FOUND,
        reason=Reason.NOT_AUTHORIZED,
        message=f"no subscriber rule of the protocol mapping matches {subscriber!r}" if subscriber else "the request names no subscriber",
    )

"""Diameter credit control (RFC 4006, application 4, as 3GPP Gy uses it) in front of the charging sessions.

A CCR-I opens a protocol session keyed by the Session-Id, each Multiple-Services-Credit-Control
(a rating group) becomes a charging session; CCR-U charges the Used-Service-Unit and reserves
the Requested-Service-Unit, answered as Granted-Service-Unit; CCR-T ends them all. A CCR-EVENT
debits directly, refunds, or asks a price. (Session-Id, CC-Request-Number) identifies a request:
a retransmission gets the stored answer, a number out of order is refused (docs/protocols.md).
"""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal
from typing import Any

from diameter.message import constants
from diameter.message.avp import Avp
from diameter.message.avp.grouped import (
    CostInformation,
    FailedAvp,
    FinalUnitIndication,
    GrantedServiceUnit,
    MultipleServicesCreditControl,
    RedirectServer,
    UnitValue,
)
from diameter.message.commands.credit_control import CreditControlAnswer, CreditControlRequest

from kopek import limits
from kopek.charging.refills import RefillCommand
from kopek.domain.item import ChargeableItem
from kopek.engine import Engine
from kopek.errors import Category, Code, KopekError
from kopek.protocols.answers import ExchangeAnswer, RatingGroupAnswer, ResultCode, UnitReport, request_digest, result_code_of
from kopek.protocols.mapping import FinalUnitAction, ProtocolMapping, RedirectAddressType, UnitKind
from kopek.protocols.multiservice import EventOutcome, Exchange, MultiserviceAdapter

logger = logging.getLogger("kopek.protocols")

PROTOCOL = "gy"
SESSION_REF_CHARS = 40
"""A Gy session is stored under this many hex digits of the digest of its Session-Id."""

RESULT_CODES: dict[ResultCode, int] = {
    ResultCode.SUCCESS: constants.E_RESULT_CODE_DIAMETER_SUCCESS,
    ResultCode.END_USER_SERVICE_DENIED: constants.E_RESULT_CODE_DIAMETER_END_USER_SERVICE_DENIED,
    ResultCode.QUOTA_MANAGEMENT_NOT_APPLICABLE: constants.E_RESULT_CODE_DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE,
    ResultCode.QUOTA_LIMIT_REACHED: constants.E_RESULT_CODE_DIAMETER_CREDIT_LIMIT_REACHED,
    ResultCode.USER_UNKNOWN: constants.E_RESULT_CODE_DIAMETER_USER_UNKNOWN,
    ResultCode.RATING_FAILED: constants.E_RESULT_CODE_DIAMETER_RATING_FAILED,
}
_SUBSCRIPTION_PREFIXES = {
    constants.E_SUBSCRIPTION_ID_TYPE_END_USER_E164: "msisdn-",
    constants.E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI: "imsi-",
    constants.E_SUBSCRIPTION_ID_TYPE_END_USER_NAI: "nai-",
}
_FINAL_UNIT_ACTIONS = {
    FinalUnitAction.TERMINATE: constants.E_FINAL_UNIT_ACTION_TERMINATE,
    FinalUnitAction.REDIRECT: constants.E_FINAL_UNIT_ACTION_REDIRECT,
    FinalUnitAction.RESTRICT_ACCESS: constants.E_FINAL_UNIT_ACTION_RESTRICT_ACCESS,
}
_REDIRECT_ADDRESS_TYPES = {
    RedirectAddressType.IPV4: constants.E_REDIRECT_ADDRESS_TYPE_IPV4_ADDRESS,
    RedirectAddressType.IPV6: constants.E_REDIRECT_ADDRESS_TYPE_IPV6_ADDRESS,
    RedirectAddressType.URL: constants.E_REDIRECT_ADDRESS_TYPE_URL,
}
CURRENCY_CODES = {"EUR": 978, "USD": 840, "GBP": 826, "CHF": 756, "SEK": 752, "NOK": 578, "DKK": 208, "PLN": 985, "CZK": 203, "JPY": 392}
"""ISO 4217 numeric codes of Cost-Information's Currency-Code, for the currencies a catalog most often uses."""


class GyError(Exception):
    """A request refused as a whole, with its Result-Code (and the AVP at fault)."""

    def __init__(self, result_code: int, message: str, failed_avp: int | None = None) -> None:
        super().__init__(message)
        self.result_code = result_code
        self.failed_avp = failed_avp


class CreditControl:
    """Answers CCRs over an engine and a protocol mapping; called from the Diameter node's worker threads."""

    def __init__(self, engine: Engine, mapping: ProtocolMapping) -> None:
        self.engine = engine
        self.mapping = mapping
        self.adapter = MultiserviceAdapter(engine, mapping)

    def answer(self, request: CreditControlRequest, answer: CreditControlAnswer) -> CreditControlAnswer:
        """Fill ``answer`` (made from ``request``, origin set) with the outcome; never raises for a client's fault."""
        answer.cc_request_type = request.cc_request_type
        answer.cc_request_number = request.cc_request_number
        try:
            outcome = self._outcome(request)
        except GyError as error:
            return _refusal(answer, error.result_code, str(error), error.failed_avp, request)
        except KopekError as error:
            failed = constants.AVP_CC_REQUEST_NUMBER if error.code is Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER else None
            return _refusal(answer, _whole_request_code(error), error.message, failed, request)
        return _encoded(answer, outcome)

    def _outcome(self, request: CreditControlRequest) -> ExchangeAnswer:
        kind = request.cc_request_type
        reports = self._reports(request)
        exchange = self._exchange(request, reports)
        identifiers = _subscription_ids(request)
        if kind == constants.E_CC_REQUEST_TYPE_INITIAL_REQUEST:
            return self.adapter.open(exchange, identifiers, reports)
        if kind == constants.E_CC_REQUEST_TYPE_UPDATE_REQUEST:
            return self.adapter.update(exchange, reports)
        if kind == constants.E_CC_REQUEST_TYPE_TERMINATION_REQUEST:
            return self.adapter.close(exchange, reports)
        if kind == constants.E_CC_REQUEST_TYPE_EVENT_REQUEST:
            action = request.requested_action if request.requested_action is not None else constants.E_REQUESTED_ACTION_DIRECT_DEBITING
            return self.adapter.event(exchange, identifiers, lambda subscriber: self._event(exchange, subscriber, action, reports))
        raise GyError(constants.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE, f"unknown CC-Request-Type {kind}", constants.AVP_CC_REQUEST_TYPE)

    def _exchange(self, request: CreditControlRequest, reports: list[UnitReport]) -> Exchange:
        session = hashlib.sha256(str(request.session_id).encode()).hexdigest()[:SESSION_REF_CHARS]
        identity = {
            "type": request.cc_request_type,
            "action": request.requested_action,
            "subscription": _subscription_ids(request),
            "reports": [(r.rating_group, str(r.used), r.quota_wanted, str(r.requested)) for r in reports],
        }
        at = request.event_timestamp or self.engine.now()
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.engine.now().tzinfo)
        return Exchange(PROTOCOL, session, int(request.cc_request_number), request_digest(identity), at)

    def _reports(self, request: CreditControlRequest) -> list[UnitReport]:
        """One report per Multiple-Services-Credit-Control; without any, the units at the top level as the rating group
        of the Service-Identifier (0 when absent)."""
        controls: list[Any] = list(request.multiple_services_credit_control or [])
        if not controls and (request.requested_service_unit is not None or request.used_service_unit):
            top_level = MultipleServicesCreditControl(
                requested_service_unit=request.requested_service_unit,
                used_service_unit=list(request.used_service_unit or []),
                rating_group=request.service_identifier or 0,
            )
            controls = [top_level]
        reports = []
        for control in controls:
            group = control.rating_group if control.rating_group is not None else (control.service_identifier or [0])[0]
            rule = self.mapping.rating_group(group)
            unit = rule.unit if rule is not None else UnitKind.VOLUME
            used = sum((_units(unit, used) or 0 for used in control.used_service_unit or []), 0)
            wanted = control.requested_service_unit is not None
            requested = _units(unit, control.requested_service_unit) if wanted else None
            reports.append(UnitReport(group, Decimal(used), wanted, Decimal(requested) if requested else None))
        return reports

    # ---- EVENT: direct debiting, refund, price enquiry ---------------------------------------------

    def _event(self, exchange: Exchange, subscriber: str | None, action: int, reports: list[UnitReport]) -> EventOutcome:
        if len(reports) != 1:
            raise GyError(constants.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE, "an event names the units of exactly one service")
        report = reports[0]
        rule = self.mapping.rating_group(report.rating_group)
        if rule is None:
            return EventOutcome([RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.RATING_FAILED)])
        quantity = report.requested if report.requested is not None else report.used or rule.default_quota
        access = self.mapping.access([subscriber], rule) if subscriber is not None else None
        if access is None:
            return EventOutcome([RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.USER_UNKNOWN)])
        item_class = self.engine.catalog().catalog.item_class(rule.item_class)
        if item_class is None or item_class.quantity is None:
            return EventOutcome([RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.RATING_FAILED)])
        properties = {name: str(value) for name, value in rule.properties.items()} | {item_class.quantity: str(quantity)}
        item = ChargeableItem(rule.item_class, exchange.at, access[0], access[1], properties)
        key = f"{exchange.protocol}:{exchange.session}:{exchange.sequence}:{report.rating_group}"
        try:
            return self._act(action, item, key, report, rule.unit, quantity)
        except KopekError as error:
            if error.category is Category.TEMPORARY_ILLEGAL_STATE:
                raise
            return EventOutcome(
                [RatingGroupAnswer(rating_group=report.rating_group, result_code=result_code_of(error), message=error.message)]
            )

    def _act(self, action: int, item: ChargeableItem, key: str, report: UnitReport, unit: UnitKind, quantity: Decimal) -> EventOutcome:
        granted = RatingGroupAnswer(rating_group=report.rating_group, result_code=ResultCode.SUCCESS, unit=unit, granted=quantity)
        if action == constants.E_REQUESTED_ACTION_DIRECT_DEBITING:
            result = self.engine.charge(item, idempotency_key=f"{key}:debit")
            lines = result.charged_items or []
            return EventOutcome([granted], sum((line.amount for line in lines), Decimal(0)), lines[0].currency if lines else None)
        enquiry = self.engine.price_enquiry(item)
        if action == constants.E_REQUESTED_ACTION_PRICE_ENQUIRY:
            return EventOutcome([granted], enquiry.amount, enquiry.currency)
        if action == constants.E_REQUESTED_ACTION_REFUND_ACCOUNT:
            plan = self.mapping.refund_refill_plan
            if plan is None:
                raise GyError(constants.E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY, "refunds need refund_refill_plan in the protocol mapping")
            if enquiry.amount > 0:
                self.engine.refill(RefillCommand(f"{key}:refund", enquiry.contract_id, plan, enquiry.amount))
            return EventOutcome([granted], enquiry.amount, enquiry.currency)
        raise GyError(
            constants.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE,
            f"Requested-Action {action} is not supported",
            constants.AVP_REQUESTED_ACTION,
        )


def _subscription_ids(request: CreditControlRequest) -> list[str | None]:
    """Subscription-Id data written as SUPI / GPSI are: ``msisdn-`` for E.164, ``imsi-`` for an IMSI, ``nai-`` for an NAI."""
    found: list[str | None] = []
    for subscription in request.subscription_id or []:
        prefix = _SUBSCRIPTION_PREFIXES.get(subscription.subscription_id_type, "")
        found.append(f"{prefix}{subscription.subscription_id_data}")
    return found


def _units(unit: UnitKind, units: Any) -> int | None:
    """The units of ``unit`` kind in a Requested- or Used-Service-Unit: CC-Time, CC-Total-Octets (else input plus output),
    CC-Service-Specific-Units."""
    if unit is UnitKind.TIME:
        return _count(units.cc_time)
    if unit is UnitKind.SERVICE_SPECIFIC_UNITS:
        return _count(units.cc_service_specific_units)
    if units.cc_total_octets is not None:
        return _count(units.cc_total_octets)
    directions = [getattr(units, name, None) for name in ("cc_input_octets", "cc_output_octets")]
    if all(value is None for value in directions):
        return None
    return sum(value or 0 for value in directions)


def _refusal(
    answer: CreditControlAnswer, result_code: int, message: str, failed_avp: int | None, request: CreditControlRequest
) -> CreditControlAnswer:
    """The answer refusing the whole request: Result-Code, Error-Message, and the AVP at fault with its value."""
    answer.result_code = result_code
    answer.append_avp(Avp.new(constants.AVP_ERROR_MESSAGE, value=message[: limits.PROTOCOL_IDENTIFIER_CHARS_MAX]))
    if failed_avp == constants.AVP_CC_REQUEST_NUMBER:
        answer.failed_avp = [FailedAvp(additional_avps=[Avp.new(failed_avp, value=int(request.cc_request_number))])]
    elif failed_avp is not None:
        answer.failed_avp = [FailedAvp(additional_avps=[Avp.new(failed_avp)])]
    return answer


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


def _whole_request_code(error: KopekError) -> int:
    if error.code is Code.PROTOCOL_SEQUENCE_OUT_OF_ORDER or error.category is Category.ALREADY_EXISTS:
        return int(constants.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE)
    if error.category is Category.DOES_NOT_EXIST:
        return int(constants.E_RESULT_CODE_DIAMETER_UNKNOWN_SESSION_ID)
    if error.category is Category.TEMPORARY_ILLEGAL_STATE:
        return int(constants.E_RESULT_CODE_DIAMETER_TOO_BUSY)
    return RESULT_CODES[result_code_of(error)]


def _encoded(answer: CreditControlAnswer, outcome: ExchangeAnswer) -> CreditControlAnswer:
    codes = [RESULT_CODES[group.result_code] for group in outcome.rating_groups]
    succeeded = not codes or constants.E_RESULT_CODE_DIAMETER_SUCCESS in codes
    answer.result_code = constants.E_RESULT_CODE_DIAMETER_SUCCESS if succeeded else codes[0]
    for group in outcome.rating_groups:
        answer.multiple_services_credit_control.append(_control(group))
    if outcome.amount is not None and outcome.currency in CURRENCY_CODES:
        sign, digits, exponent = outcome.amount.as_tuple()
        value = int("".join(str(digit) for digit in digits)) * (-1 if sign else 1)
        answer.cost_information = CostInformation(
            unit_value=UnitValue(value_digits=value, exponent=int(exponent)), currency_code=CURRENCY_CODES[outcome.currency]
        )
    return answer


def _control(group: RatingGroupAnswer) -> MultipleServicesCreditControl:
    control = MultipleServicesCreditControl(rating_group=group.rating_group, result_code=RESULT_CODES[group.result_code])
    if group.granted is not None and group.unit is not None:
        granted = int(group.granted)
        control.granted_service_unit = GrantedServiceUnit(
            cc_time=granted if group.unit is UnitKind.TIME else None,
            cc_total_octets=granted if group.unit is UnitKind.VOLUME else None,
            cc_service_specific_units=granted if group.unit is UnitKind.SERVICE_SPECIFIC_UNITS else None,
        )
        control.validity_time = group.validity_time_seconds
        threshold = int(group.quota_threshold) if group.quota_threshold is not None else None
        control.time_quota_threshold = threshold if group.unit is UnitKind.TIME else None
        control.volume_quota_threshold = threshold if group.unit is UnitKind.VOLUME else None
        control.unit_quota_threshold = threshold if group.unit is UnitKind.SERVICE_SPECIFIC_UNITS else None
    rule = group.final_unit
    if rule is not None:
        indication = FinalUnitIndication(final_unit_action=_FINAL_UNIT_ACTIONS[rule.action])
        if rule.redirect_address_type is not None and rule.redirect_server_address is not None:
            indication.redirect_server = RedirectServer(
                redirect_address_type=_REDIRECT_ADDRESS_TYPES[rule.redirect_address_type],
                redirect_server_address=rule.redirect_server_address,
            )
        if rule.filter_id is not None:
            indication.filter_id = [rule.filter_id]
        if rule.restriction_filter_rule is not None:
            indication.restriction_filter_rule = [rule.restriction_filter_rule.encode()]
        control.final_unit_indication = indication
    return control

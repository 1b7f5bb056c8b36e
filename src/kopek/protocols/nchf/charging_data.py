"""Nchf_ConvergedCharging create, update and release as steps of a protocol session (docs/protocols.md).

The charging data reference is the multiservice reservation id; each ``multipleUnitUsage`` entry
(a rating group) is a charging session; its ``usedUnitContainer`` usage is charged and its
``requestedUnit`` reserved, answered as ``grantedUnit`` in ``multipleUnitInformation``.
"""

from __future__ import annotations

from decimal import Decimal

from kopek.engine import Engine
from kopek.errors import Code, PrerequisiteMissingError, Reason
from kopek.protocols.answers import ExchangeAnswer, RatingGroupAnswer, UnitReport, request_digest
from kopek.protocols.mapping import ProtocolMapping, UnitKind
from kopek.protocols.multiservice import Exchange, MultiserviceAdapter
from kopek.protocols.nchf import models

PROTOCOL = "nchf"
CHARGING_DATA_REF_CHARS = 32
"""A charging data reference is this many hex digits of the digest of the create request."""


class ChargingData:
    """The charging data resources of one server, over an engine and a protocol mapping."""

    def __init__(self, engine: Engine, mapping: ProtocolMapping) -> None:
        self.adapter = MultiserviceAdapter(engine, mapping)
        self.mapping = mapping

    def create(self, request: models.ChargingDataRequest) -> tuple[str, models.ChargingDataResponse]:
        """A new charging data resource: its reference and the first grants.

        The reference is derived from the request, so a retransmitted create finds the resource its first
        copy made (and its answer) instead of making a second one.
        """
        identifiers = _subscriber_identifiers(request)
        if self.adapter.subscriber(identifiers) is None:
            raise PrerequisiteMissingError(
                code=Code.ACCESS_NOT_FOUND,
                reason=Reason.NOT_AUTHORIZED,
                message=f"no subscriber rule of the protocol mapping matches {[i for i in identifiers if i]}",
            )
        reference = request_digest(_identity(request, "create", ""))[:CHARGING_DATA_REF_CHARS]
        answer = self.adapter.open(
            self._exchange(request, "create", reference), identifiers, self._reports(request), notify_uri=request.notifyUri
        )
        return reference, response(answer)

    def update(self, reference: str, request: models.ChargingDataRequest) -> models.ChargingDataResponse:
        return response(self.adapter.update(self._exchange(request, "update", reference), self._reports(request)))

    def release(self, reference: str, request: models.ChargingDataRequest) -> models.ChargingDataResponse:
        return response(self.adapter.close(self._exchange(request, "release", reference), self._reports(request)))

    def _exchange(self, request: models.ChargingDataRequest, step: str, reference: str) -> Exchange:
        digest = request_digest(_identity(request, step, reference))
        return Exchange(PROTOCOL, reference, request.invocationSequenceNumber, digest, request.invocationTimeStamp)

    def _reports(self, request: models.ChargingDataRequest) -> list[UnitReport]:
        reports = []
        for usage in request.multipleUnitUsage or []:
            rule = self.mapping.rating_group(usage.ratingGroup)
            unit = rule.unit if rule is not None else UnitKind.VOLUME
            used = sum((_quantity(unit, container) or 0 for container in usage.usedUnitContainer or []), 0)
            requested = _quantity(unit, usage.requestedUnit) if usage.requestedUnit is not None else None
            reports.append(
                UnitReport(
                    usage.ratingGroup,
                    used=Decimal(used),
                    quota_wanted=usage.requestedUnit is not None,
                    requested=Decimal(requested) if requested else None,
                )
            )
        return reports


def _subscriber_identifiers(request: models.ChargingDataRequest) -> list[str | None]:
    """The SUPI, then the GPSI of the PDU session's user information."""
    information = request.pDUSessionChargingInformation
    gpsi = information.userInformation.servedGPSI if information is not None and information.userInformation is not None else None
    return [request.subscriberIdentifier, gpsi]


def _identity(request: models.ChargingDataRequest, step: str, reference: str) -> object:
    """What tells one request from another: all of it but the retransmission indicator."""
    return {"step": step, "reference": reference, "body": request.model_dump(mode="json", exclude={"retransmissionIndicator"})}


def _quantity(unit: UnitKind, units: models.RequestedUnit | models.UsedUnitContainer) -> int | None:
    """The units of ``unit`` kind: seconds, bytes (total, else uplink plus downlink), or service-specific units."""
    if unit is UnitKind.TIME:
        return units.time
    if unit is UnitKind.SERVICE_SPECIFIC_UNITS:
        return units.serviceSpecificUnits
    if units.totalVolume is not None:
        return units.totalVolume
    if units.uplinkVolume is None and units.downlinkVolume is None:
        return None
    return (units.uplinkVolume or 0) + (units.downlinkVolume or 0)


def response(answer: ExchangeAnswer) -> models.ChargingDataResponse:
    return models.ChargingDataResponse(
        invocationTimeStamp=answer.answered_at,
        invocationSequenceNumber=answer.sequence,
        multipleUnitInformation=[unit_information(group) for group in answer.rating_groups] or None,
    )


def unit_information(answer: RatingGroupAnswer) -> models.MultipleUnitInformation:
    granted = int(answer.granted) if answer.granted is not None else None
    threshold = int(answer.quota_threshold) if answer.quota_threshold is not None else None
    unit = answer.unit
    return models.MultipleUnitInformation(
        resultCode=models.ResultCode(answer.result_code.value),
        ratingGroup=answer.rating_group,
        grantedUnit=_granted(unit, granted) if unit is not None and granted is not None else None,
        validityTime=answer.validity_time_seconds,
        finalUnitIndication=_final_unit(answer),
        timeQuotaThreshold=threshold if unit is UnitKind.TIME else None,
        volumeQuotaThreshold=threshold if unit is UnitKind.VOLUME else None,
        unitQuotaThreshold=threshold if unit is UnitKind.SERVICE_SPECIFIC_UNITS else None,
    )


def _granted(unit: UnitKind, granted: int) -> models.GrantedUnit:
    if unit is UnitKind.TIME:
        return models.GrantedUnit(time=granted)
    if unit is UnitKind.VOLUME:
        return models.GrantedUnit(totalVolume=granted)
    return models.GrantedUnit(serviceSpecificUnits=granted)


def _final_unit(answer: RatingGroupAnswer) -> models.FinalUnitIndication | None:
    rule = answer.final_unit
    if rule is None:
        return None
    redirect = None
    if rule.redirect_address_type is not None and rule.redirect_server_address is not None:
        redirect = models.RedirectServer(
            redirectAddressType=models.RedirectAddressType(rule.redirect_address_type.value),
            redirectServerAddress=rule.redirect_server_address,
        )
    return models.FinalUnitIndication(
        finalUnitAction=models.FinalUnitAction(rule.action.value),
        restrictionFilterRule=rule.restriction_filter_rule,
        filterId=rule.filter_id,
        redirectServer=redirect,
    )

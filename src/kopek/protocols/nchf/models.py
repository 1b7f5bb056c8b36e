"""The bodies of Nchf_ConvergedCharging v3 (3GPP TS 32.291, OpenAPI 3.x) that kopek reads and writes.

Field names, required fields and enumerations follow the specification's OpenAPI document
exactly (camelCase as there). 3GPP enumerations are extensible (``anyOf: [enum, string]``): a
receiver accepts a value it does not know, so request fields take any string and the known values
are listed as enums. Fields kopek does not use are accepted and ignored, as TS 29.500 asks of a
receiver; a field kopek reads must have the specified type, else the request is refused.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kopek import limits

Uint32 = Annotated[int, Field(ge=0, le=4_294_967_295)]
Uint64 = Annotated[int, Field(ge=0, le=18_446_744_073_709_551_615)]
RatingGroup = Uint32
DurationSec = int
Text = Annotated[str, Field(max_length=limits.PROTOCOL_IDENTIFIER_CHARS_MAX)]


class NodeFunctionality(StrEnum):
    AMF = "AMF"
    SMF = "SMF"
    SMS = "SMS"
    PGW_C_SMF = "PGW_C_SMF"
    NEFF = "NEFF"
    SGW = "SGW"
    I_SMF = "I_SMF"
    ePDG = "ePDG"
    CEF = "CEF"
    NEF = "NEF"
    MnS_Producer = "MnS_Producer"


class ResultCode(StrEnum):
    SUCCESS = "SUCCESS"
    END_USER_SERVICE_DENIED = "END_USER_SERVICE_DENIED"
    QUOTA_MANAGEMENT_NOT_APPLICABLE = "QUOTA_MANAGEMENT_NOT_APPLICABLE"
    QUOTA_LIMIT_REACHED = "QUOTA_LIMIT_REACHED"
    END_USER_SERVICE_REJECTED = "END_USER_SERVICE_REJECTED"
    USER_UNKNOWN = "USER_UNKNOWN"
    RATING_FAILED = "RATING_FAILED"
    QUOTA_MANAGEMENT = "QUOTA_MANAGEMENT"


class FinalUnitAction(StrEnum):
    TERMINATE = "TERMINATE"
    REDIRECT = "REDIRECT"
    RESTRICT_ACCESS = "RESTRICT_ACCESS"


class RedirectAddressType(StrEnum):
    IPV4 = "IPV4"
    IPV6 = "IPV6"
    URL = "URL"


class NotificationType(StrEnum):
    REAUTHORIZATION = "REAUTHORIZATION"
    ABORT_CHARGING = "ABORT_CHARGING"


class QuotaManagementIndicator(StrEnum):
    ONLINE_CHARGING = "ONLINE_CHARGING"
    OFFLINE_CHARGING = "OFFLINE_CHARGING"
    QUOTA_MANAGEMENT_SUSPENDED = "QUOTA_MANAGEMENT_SUSPENDED"


class _Received(BaseModel):
    """A body kopek receives: unknown fields ignored, known ones typed."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Sent(BaseModel):
    """A body kopek sends: absent fields are left out (``exclude_none``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PlmnId(_Received):
    mcc: Annotated[str, Field(pattern=r"^\d{3}$")]
    mnc: Annotated[str, Field(pattern=r"^\d{2,3}$")]


class NFIdentification(_Received):
    nFName: Text | None = None
    nFIPv4Address: Text | None = None
    nFIPv6Address: Text | None = None
    nFPLMNID: PlmnId | None = None
    nodeFunctionality: NodeFunctionality | Text
    nFFqdn: Text | None = None


class Trigger(_Received):
    triggerType: Text
    triggerCategory: Text
    timeLimit: DurationSec | None = None
    volumeLimit: Uint32 | None = None
    volumeLimit64: Uint64 | None = None
    eventLimit: Uint32 | None = None
    maxNumberOfccc: Uint32 | None = None
    tariffTimeChange: AwareDatetime | None = None


class RequestedUnit(_Received):
    time: Uint32 | None = None
    totalVolume: Uint64 | None = None
    uplinkVolume: Uint64 | None = None
    downlinkVolume: Uint64 | None = None
    serviceSpecificUnits: Uint64 | None = None


class UsedUnitContainer(_Received):
    serviceId: Uint32 | None = None
    quotaManagementIndicator: QuotaManagementIndicator | Text | None = None
    triggers: Annotated[list[Trigger], Field(max_length=limits.PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX)] | None = None
    triggerTimestamp: AwareDatetime | None = None
    time: Uint32 | None = None
    totalVolume: Uint64 | None = None
    uplinkVolume: Uint64 | None = None
    downlinkVolume: Uint64 | None = None
    serviceSpecificUnits: Uint64 | None = None
    eventTimeStamps: Annotated[list[AwareDatetime], Field(max_length=limits.PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX)] | None = None
    localSequenceNumber: int


class MultipleUnitUsage(_Received):
    ratingGroup: RatingGroup
    requestedUnit: RequestedUnit | None = None
    usedUnitContainer: Annotated[list[UsedUnitContainer], Field(max_length=limits.PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX)] | None = None
    uPFID: Text | None = None


class UserInformation(_Received):
    servedGPSI: Text | None = None
    servedPEI: Text | None = None
    unauthenticatedFlag: bool | None = None
    roamerInOut: Text | None = None


class PDUSessionChargingInformation(_Received):
    chargingId: Uint32 | None = None
    userInformation: UserInformation | None = None


class ChargingDataRequest(_Received):
    """The body of create, update and release."""

    subscriberIdentifier: Text | None = None
    tenantIdentifier: Text | None = None
    chargingId: Uint32 | None = None
    mnSConsumerIdentifier: Text | None = None
    nfConsumerIdentification: NFIdentification
    invocationTimeStamp: AwareDatetime
    invocationSequenceNumber: Uint32
    retransmissionIndicator: bool | None = None
    oneTimeEvent: bool | None = None
    oneTimeEventType: Text | None = None
    notifyUri: Annotated[str, Field(max_length=limits.PROPERTY_STRING_CHARS_MAX)] | None = None
    supportedFeatures: Annotated[str, Field(pattern=r"^[A-Fa-f0-9]*$", max_length=64)] | None = None
    serviceSpecificationInfo: Text | None = None
    multipleUnitUsage: Annotated[list[MultipleUnitUsage], Field(max_length=limits.PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX)] | None = None
    triggers: Annotated[list[Trigger], Field(max_length=limits.PROTOCOL_RATING_GROUPS_PER_REQUEST_MAX)] | None = None
    pDUSessionChargingInformation: PDUSessionChargingInformation | None = None


class GrantedUnit(_Sent):
    tariffTimeChange: datetime | None = None
    time: Uint32 | None = None
    totalVolume: Uint64 | None = None
    uplinkVolume: Uint64 | None = None
    downlinkVolume: Uint64 | None = None
    serviceSpecificUnits: Uint64 | None = None


class RedirectServer(_Sent):
    redirectAddressType: RedirectAddressType
    redirectServerAddress: str


class FinalUnitIndication(_Sent):
    finalUnitAction: FinalUnitAction
    restrictionFilterRule: str | None = None
    filterId: str | None = None
    redirectServer: RedirectServer | None = None


class MultipleUnitInformation(_Sent):
    resultCode: ResultCode | None = None
    ratingGroup: RatingGroup
    grantedUnit: GrantedUnit | None = None
    validityTime: DurationSec | None = None
    quotaHoldingTime: DurationSec | None = None
    finalUnitIndication: FinalUnitIndication | None = None
    timeQuotaThreshold: int | None = None
    volumeQuotaThreshold: Uint64 | None = None
    unitQuotaThreshold: int | None = None
    uPFID: str | None = None


class InvalidParam(_Sent):
    param: str
    reason: str | None = None


class ProblemDetails(_Sent):
    """TS 29.571 ProblemDetails, the body of every refusal (``application/problem+json``)."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    cause: str | None = None
    invalidParams: list[InvalidParam] | None = None


class ChargingDataResponse(_Sent):
    invocationTimeStamp: datetime
    invocationSequenceNumber: Uint32
    multipleUnitInformation: list[MultipleUnitInformation] | None = None


class ReauthorizationDetails(_Sent):
    serviceId: Uint32 | None = None
    ratingGroup: RatingGroup | None = None
    quotaManagementIndicator: QuotaManagementIndicator | None = None


class ChargingNotifyRequest(_Sent):
    notificationType: NotificationType
    reauthorizationDetails: list[ReauthorizationDetails] | None = None

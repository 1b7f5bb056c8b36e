"""The rule from network identities to kopek: a subscriber identifier to an access, a rating group to an
item class (docs/protocols.md, "The mapping file").

Network elements name a subscriber by SUPI (``imsi-...``, ``nai-...``) or GPSI (``msisdn-...``; Diameter
Subscription-Id data is written the same way) and a service by its rating group. The mapping file says,
for the first subscriber rule whose pattern matches, which service id and user id the access has, and for
each rating group which item class prices it, in which unit it is measured and what happens on the
last grant.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kopek import limits
from kopek.charging.session_views import Resolution
from kopek.documents import read_document
from kopek.domain.units import Unit
from kopek.errors import Code, ErrorDetail, InvalidError

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class UnitKind(StrEnum):
    """How a rating group's usage is counted on the wire; the item class's quantity must be in the matching unit."""

    TIME = "time"
    """Seconds: Nchf ``time``, Diameter CC-Time."""
    VOLUME = "volume"
    """Bytes: Nchf ``totalVolume`` (or uplink plus downlink), Diameter CC-Total-Octets (or input plus output)."""
    SERVICE_SPECIFIC_UNITS = "service_specific_units"
    """Events: Nchf ``serviceSpecificUnits``, Diameter CC-Service-Specific-Units."""

    @property
    def unit(self) -> Unit:
        return {UnitKind.TIME: Unit.SECONDS, UnitKind.VOLUME: Unit.BYTES, UnitKind.SERVICE_SPECIFIC_UNITS: Unit.EVENTS}[self]


class FinalUnitAction(StrEnum):
    """What the network element does when the last granted units are used (TS 32.291 / RFC 4006)."""

    TERMINATE = "TERMINATE"
    REDIRECT = "REDIRECT"
    RESTRICT_ACCESS = "RESTRICT_ACCESS"


class RedirectAddressType(StrEnum):
    IPV4 = "IPV4"
    IPV6 = "IPV6"
    URL = "URL"


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Text = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]


class FinalUnitRule(_Rule):
    """The final unit indication given with a grant that the money limited: the action, and where to redirect to
    or which filter restricts access."""

    action: FinalUnitAction = FinalUnitAction.TERMINATE
    redirect_address_type: RedirectAddressType | None = None
    redirect_server_address: str | None = Field(default=None, max_length=limits.PROPERTY_STRING_CHARS_MAX)
    filter_id: str | None = Field(default=None, max_length=limits.PROPERTY_STRING_CHARS_MAX)
    restriction_filter_rule: str | None = Field(default=None, max_length=limits.PROPERTY_STRING_CHARS_MAX)

    @model_validator(mode="after")
    def _complete(self) -> FinalUnitRule:
        if self.action is FinalUnitAction.REDIRECT and (self.redirect_address_type is None or self.redirect_server_address is None):
            raise ValueError("REDIRECT needs redirect_address_type and redirect_server_address")
        if self.action is FinalUnitAction.RESTRICT_ACCESS and self.filter_id is None and self.restriction_filter_rule is None:
            raise ValueError("RESTRICT_ACCESS needs filter_id or restriction_filter_rule")
        return self


class SubscriberRule(_Rule):
    """``pattern`` (a regular expression matched against the whole identifier) selects the rule; ``service_id`` and
    ``user_id`` are templates whose ``{name}`` placeholders are the pattern's named groups."""

    pattern: str = Field(min_length=1, max_length=limits.PROPERTY_STRING_CHARS_MAX)
    service_id: Text
    user_id: Text = "{user}"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from error
        return pattern

    @model_validator(mode="after")
    def _placeholders_known(self) -> SubscriberRule:
        groups = set(re.compile(self.pattern).groupindex)
        for template in (self.service_id, self.user_id):
            unknown = set(_PLACEHOLDER.findall(template)) - groups
            if unknown:
                raise ValueError(f"template {template!r} names {sorted(unknown)}, which the pattern does not capture")
        return self


class RatingGroupRule(_Rule):
    """How one rating group is charged: the item class (its quantity in the unit of ``unit``), the fixed
    properties of its items, the access's service id when it is not the subscriber rule's, the quota
    granted when the network element asks for one without a size, and the action on the final grant."""

    item_class: Text
    unit: UnitKind
    properties: dict[str, str | int | Decimal | bool] = Field(default_factory=dict, max_length=limits.ITEM_PROPERTIES_MAX)
    service_id: Text | None = None
    default_quota: Decimal = Field(gt=0, max_digits=limits.DECIMAL_DIGITS_MAX)
    final_unit: FinalUnitRule = FinalUnitRule()
    quota_management: bool = Field(
        default=True, description="False: the rating group is not credit-controlled (answered QUOTA_MANAGEMENT_NOT_APPLICABLE)."
    )


class ProtocolMapping(_Rule):
    """The whole mapping file."""

    subscribers: tuple[SubscriberRule, ...] = Field(min_length=1, max_length=limits.PROTOCOL_MAPPING_RULES_MAX)
    rating_groups: dict[int, RatingGroupRule] = Field(max_length=limits.PROTOCOL_MAPPING_RULES_MAX)
    validity_time_seconds: int = Field(default=3_600, ge=1, le=limits.SESSION_TTL_MS_MAX // 1000 - limits.PROTOCOL_GRACE_SECONDS)
    quota_threshold_percent: int = Field(default=20, ge=0, le=100)
    default_resolution: Resolution = Resolution.CONFIRMED
    refund_refill_plan: Text | None = Field(default=None, description="The refill plan a Diameter refund credits through.")

    def access(self, identifiers: list[str | None], rating_group: RatingGroupRule | None = None) -> tuple[str, str] | None:
        """The (service id, user id) of the first identifier that a subscriber rule matches; none when no rule does."""
        for identifier in identifiers:
            if identifier is None:
                continue
            for rule in self.subscribers:
                found = re.fullmatch(rule.pattern, identifier)
                if found is None:
                    continue
                groups = {name: value or "" for name, value in found.groupdict().items()}
                service_id = _filled(rule.service_id, groups)
                if rating_group is not None and rating_group.service_id is not None:
                    service_id = rating_group.service_id
                return service_id, _filled(rule.user_id, groups)
        return None

    def rating_group(self, rating_group: int) -> RatingGroupRule | None:
        return self.rating_groups.get(rating_group)

    @property
    def session_ttl_ms(self) -> int:
        """A grant stays reserved for its validity time and a grace period for the report that ends it."""
        return (self.validity_time_seconds + limits.PROTOCOL_GRACE_SECONDS) * 1000


def _filled(template: str, groups: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda found: groups[found.group(1)], template)


def read_mapping(path: Path) -> ProtocolMapping:
    """The mapping file at ``path`` (YAML or JSON), checked; faults are ``INVALID`` / ``request_invalid``."""
    return mapping_from_document(read_document(path), source=str(path))


def mapping_from_document(document: Any, *, source: str) -> ProtocolMapping:
    try:
        return ProtocolMapping.model_validate(document)
    except ValidationError as error:
        details = tuple(ErrorDetail(str(fault["msg"]), tuple(fault["loc"]), str(fault["type"])) for fault in error.errors())
        raise InvalidError(
            code=Code.PROTOCOL_MAPPING_INVALID,
            message=f"{source}: the protocol mapping is invalid ({len(details)} faults)",
            details=details,
        ) from error

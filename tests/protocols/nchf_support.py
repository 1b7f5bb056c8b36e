"""Building Nchf_ConvergedCharging requests as an SMF would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.protocol_world import AT, IMSI

BASE = "/nchf-convergedcharging/v3"


def usage(
    rating_group: int, *, requested: dict[str, int] | None = None, used: dict[str, int] | None = None, ask: bool = True
) -> dict[str, Any]:
    """A ``multipleUnitUsage`` entry: ``requested`` units (an empty ``requestedUnit`` when ``ask`` and none given), ``used`` units."""
    entry: dict[str, Any] = {"ratingGroup": rating_group}
    if ask:
        entry["requestedUnit"] = requested or {}
    if used is not None:
        entry["usedUnitContainer"] = [{"localSequenceNumber": 1, **used}]
    return entry


def request(
    sequence: int,
    *usages: dict[str, Any],
    subscriber: str | None = IMSI,
    notify_uri: str | None = None,
    at: datetime = AT,
    retransmission: bool | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nfConsumerIdentification": {"nodeFunctionality": "SMF", "nFName": "5f1c2c2e-7a3e-4f0e-9c1e-1d2c3b4a5f60"},
        "invocationTimeStamp": (at + timedelta(seconds=sequence)).isoformat(),
        "invocationSequenceNumber": sequence,
        "pDUSessionChargingInformation": {"chargingId": 4711, "userInformation": {"servedGPSI": "msisdn-33600000001"}},
    }
    if subscriber is not None:
        body["subscriberIdentifier"] = subscriber
    if notify_uri is not None:
        body["notifyUri"] = notify_uri
    if usages:
        body["multipleUnitUsage"] = list(usages)
    if retransmission is not None:
        body["retransmissionIndicator"] = retransmission
    return body


def by_group(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {unit["ratingGroup"]: unit for unit in answer.get("multipleUnitInformation", [])}

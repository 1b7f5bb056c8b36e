"""Nchf_ConvergedCharging v3 as an SMF uses it: a PDU session with two rating groups from create to release."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kopek import Engine
from kopek.charging.refills import RefillCommand
from kopek.protocols.nchf.notify import send_reauthorizations
from tests.protocol_world import MEGABYTE, MSISDN, balance, reserved
from tests.protocols.nchf_support import BASE, by_group, request, usage


def _create(nchf: TestClient, *usages: dict[str, Any], **options: Any) -> tuple[str, dict[str, Any]]:
    created = nchf.post(f"{BASE}/chargingdata", json=request(0, *usages, **options))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(f"http://testserver{BASE}/chargingdata/")
    return location.rsplit("/", 1)[1], created.json()


def _update(nchf: TestClient, reference: str, sequence: int, *usages: dict[str, Any], **options: Any) -> dict[str, Any]:
    updated = nchf.post(f"{BASE}/chargingdata/{reference}/update", json=request(sequence, *usages, **options))
    assert updated.status_code == 200, updated.text
    answer: dict[str, Any] = updated.json()
    return answer


def _notify_pass(engine: Engine) -> list[str]:
    async def once() -> list[str]:
        async with httpx.AsyncClient(timeout=5) as client:
            report = await send_reauthorizations(engine, client)
        return [done.reference for done in report.notified]

    return asyncio.run(once())


def test_pdu_session_with_two_rating_groups_quota_exhausted_refill_notify_and_release(
    world: Engine, nchf: TestClient, notify_server: tuple[str, list[dict[str, Any]]]
) -> None:
    notify_uri, received = notify_server
    reference, created = _create(
        nchf, usage(10, requested={"totalVolume": 5 * MEGABYTE}), usage(20, requested={"time": 600}), notify_uri=notify_uri
    )
    # 10.00 EUR: 5 MB of data reserve 5.00; the voice call gets what is left, 8 minutes (4.80), its last grant.
    data, voice = by_group(created)[10], by_group(created)[20]
    assert data == {
        "resultCode": "SUCCESS", "ratingGroup": 10, "grantedUnit": {"totalVolume": 5 * MEGABYTE},
        "validityTime": 600, "volumeQuotaThreshold": MEGABYTE,
    }  # fmt: skip
    assert voice["grantedUnit"] == {"time": 480}
    assert voice["finalUnitIndication"] == {"finalUnitAction": "TERMINATE"}
    assert voice["timeQuotaThreshold"] == 96
    assert reserved(world) == Decimal("9.80")

    # The data is used up and more asked for: charged 5.00, and 0.20 left buys no megabyte.
    exhausted = by_group(_update(nchf, reference, 1, usage(10, requested={"totalVolume": MEGABYTE}, used={"totalVolume": 5 * MEGABYTE})))
    assert exhausted[10]["resultCode"] == "QUOTA_LIMIT_REACHED"
    assert "grantedUnit" not in exhausted[10]
    assert exhausted[10]["finalUnitIndication"] == {
        "finalUnitAction": "REDIRECT",
        "redirectServer": {"redirectAddressType": "URL", "redirectServerAddress": "http://topup.example/"},
    }
    assert balance(world) == Decimal("5.00")
    assert _notify_pass(world) == []  # no refill yet: nothing to re-authorize

    world.refill(RefillCommand("topup-1", "alice-contract", "topup", Decimal("20.00")))
    assert _notify_pass(world) == [reference]
    assert received == [
        {
            "path": "/smf/notify/pdu-1",
            "body": {"notificationType": "REAUTHORIZATION", "reauthorizationDetails": [{"ratingGroup": 10}, {"ratingGroup": 20}]},
        }
    ]
    assert _notify_pass(world) == []  # notified once

    # Re-authorized, the SMF asks again: 25.00 left minus the 4.80 the call holds.
    again = by_group(_update(nchf, reference, 2, usage(10, requested={"totalVolume": 3 * MEGABYTE})))
    assert again[10]["grantedUnit"] == {"totalVolume": 3 * MEGABYTE}
    assert "finalUnitIndication" not in again[10]

    released = nchf.post(
        f"{BASE}/chargingdata/{reference}/release",
        json=request(3, usage(10, used={"totalVolume": 2 * MEGABYTE + 1}, ask=False), usage(20, used={"time": 125}, ask=False)),
    )
    assert released.status_code == 204
    assert released.content == b""
    # 20.00 + 10.00 - 5.00 data - 3.00 data (3 started MB) - 1.80 voice (3 started minutes).
    assert balance(world) == Decimal("20.20")
    assert reserved(world) == 0
    assert world.live_sessions("alice") == []


def test_retransmitted_update_answers_the_first_answer_and_charges_once(world: Engine, nchf: TestClient) -> None:
    reference, _ = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}))
    body = request(1, usage(10, requested={"totalVolume": MEGABYTE}, used={"totalVolume": MEGABYTE}))
    first = nchf.post(f"{BASE}/chargingdata/{reference}/update", json=body)
    retried = nchf.post(f"{BASE}/chargingdata/{reference}/update", json=body | {"retransmissionIndicator": True})
    assert first.status_code == retried.status_code == 200
    assert retried.json() == first.json()
    assert balance(world) == Decimal("9.00")


def test_retransmitted_create_finds_the_charging_data_of_its_first_copy(world: Engine, nchf: TestClient) -> None:
    first_reference, first = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}))
    again_reference, again = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}), retransmission=True)
    assert again_reference == first_reference
    assert again == first
    assert reserved(world) == Decimal("1.00")


@pytest.mark.parametrize("sequence", [pytest.param(0, id="already-used-number"), pytest.param(3, id="gap")])
def test_out_of_order_sequence_number_is_refused_with_a_problem(world: Engine, nchf: TestClient, sequence: int) -> None:
    reference, _ = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}))
    refused = nchf.post(f"{BASE}/chargingdata/{reference}/update", json=request(sequence, usage(10, used={"totalVolume": 10})))
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["cause"] == "MANDATORY_IE_INCORRECT"
    assert problem["invalidParams"][0]["param"] == "/invocationSequenceNumber"
    assert balance(world) == Decimal("10.00")


def test_unknown_charging_data_reference_is_context_not_found(nchf: TestClient) -> None:
    refused = nchf.post(f"{BASE}/chargingdata/0123456789abcdef/update", json=request(1, usage(10)))
    assert refused.status_code == 404
    assert refused.json() == {
        "status": 404,
        "cause": "CONTEXT_NOT_FOUND",
        "detail": "nchf session '0123456789abcdef' does not exist",
    }


@pytest.mark.parametrize(
    ("body", "cause", "param"),
    [
        pytest.param({"invocationTimeStamp": "2026-06-01T12:00:00Z", "invocationSequenceNumber": 0}, "MANDATORY_IE_MISSING",
                     "/nfConsumerIdentification", id="missing-mandatory-field"),
        pytest.param(request(0) | {"invocationSequenceNumber": -1}, "MANDATORY_IE_INCORRECT", "/invocationSequenceNumber",
                     id="negative-uint32"),
        pytest.param(request(0, {"ratingGroup": "ten"}), "MANDATORY_IE_INCORRECT", "/multipleUnitUsage/0/ratingGroup",
                     id="rating-group-not-a-number"),
        pytest.param(request(0) | {"invocationTimeStamp": "yesterday"}, "MANDATORY_IE_INCORRECT", "/invocationTimeStamp",
                     id="not-a-date"),
    ],
)  # fmt: skip
def test_body_that_breaks_the_schema_is_a_400_problem(nchf: TestClient, body: dict[str, Any], cause: str, param: str) -> None:
    refused = nchf.post(f"{BASE}/chargingdata", json=body)
    assert refused.status_code == 400
    problem = refused.json()
    assert problem["cause"] == cause
    assert param in [invalid["param"] for invalid in problem["invalidParams"]]


def test_body_that_is_not_json_is_invalid_msg_format(nchf: TestClient) -> None:
    refused = nchf.post(f"{BASE}/chargingdata", content=b"{not json", headers={"Content-Type": "application/json"})
    assert refused.status_code == 400
    assert refused.json()["cause"] == "INVALID_MSG_FORMAT"


def test_subscriber_no_rule_matches_is_user_unknown(world: Engine, nchf: TestClient) -> None:
    refused = nchf.post(
        f"{BASE}/chargingdata", json=request(0, usage(10), subscriber="nai-someone@example.org") | {"pDUSessionChargingInformation": {}}
    )
    assert refused.status_code == 404
    assert refused.json()["cause"] == "USER_UNKNOWN"


def test_gpsi_identifies_the_subscriber_when_the_supi_does_not(world: Engine, nchf: TestClient) -> None:
    _, created = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}), subscriber="nai-someone@example.org")
    assert by_group(created)[10]["resultCode"] == "SUCCESS"
    assert MSISDN.startswith("msisdn-")


def test_result_codes_per_rating_group(world: Engine, nchf: TestClient) -> None:
    # 30 content (events), 40 not credit-controlled, 50 a service the subscriber has no access to, 99 not in the mapping.
    _, created = _create(nchf, usage(30, requested={"serviceSpecificUnits": 30}), usage(40), usage(50), usage(99))
    results = {group: unit["resultCode"] for group, unit in by_group(created).items()}
    assert results == {30: "SUCCESS", 40: "QUOTA_MANAGEMENT_NOT_APPLICABLE", 50: "USER_UNKNOWN", 99: "RATING_FAILED"}
    content = by_group(created)[30]
    # 10.00 EUR buys 20 events of 30 asked: the last grant, with its restriction.
    assert content["grantedUnit"] == {"serviceSpecificUnits": 20}
    assert content["unitQuotaThreshold"] == 4
    assert content["finalUnitIndication"] == {"finalUnitAction": "RESTRICT_ACCESS", "filterId": "walled-garden"}


def test_blocked_subscriber_account_is_end_user_service_denied(world: Engine, nchf: TestClient) -> None:
    from kopek import SubscriberAccountUpdate

    world.update_subscriber_account("alice", SubscriberAccountUpdate.model_validate({"status": "blocked"}))
    _, created = _create(nchf, usage(10, requested={"totalVolume": MEGABYTE}))
    assert by_group(created)[10]["resultCode"] == "END_USER_SERVICE_DENIED"


def test_nchf_openapi_document_names_the_three_operations(nchf: TestClient) -> None:
    document = nchf.get(f"{BASE}/openapi.json").json()
    assert set(document["paths"]) == {"/chargingdata", "/chargingdata/{ChargingDataRef}/update", "/chargingdata/{ChargingDataRef}/release"}
    request_schema = document["components"]["schemas"]["ChargingDataRequest"]
    assert set(request_schema["required"]) == {"nfConsumerIdentification", "invocationTimeStamp", "invocationSequenceNumber"}

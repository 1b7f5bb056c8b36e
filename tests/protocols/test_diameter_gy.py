"""Diameter Gy as a PGW speaks it: the client side of python-diameter over a real TCP socket on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from decimal import Decimal

import pytest
from diameter.message import Message, constants
from diameter.message.commands.device_watchdog import DeviceWatchdogRequest

from kopek import Engine
from kopek.protocols.diameter.gy import CURRENCY_CODES
from tests.protocol_world import MEGABYTE, balance, mapping, reserved
from tests.protocols.diameter_support import (
    EVENT,
    INITIAL,
    SERVER_REALM,
    TERMINATION,
    UPDATE,
    GyClient,
    by_group,
    ccr,
    control,
    free_port,
    gy_client,
    kopek_node,
)

SUCCESS = constants.E_RESULT_CODE_DIAMETER_SUCCESS


@pytest.fixture
def gy(world: Engine) -> Iterator[GyClient]:
    port = free_port()
    with kopek_node(world, mapping(), port), gy_client(port) as client:
        yield client


def test_ccr_initial_update_termination_charge_each_rating_group(world: Engine, gy: GyClient) -> None:
    initial = gy.send(
        ccr("pgw;1;1", INITIAL, 0, control(10, requested={"cc_total_octets": 5 * MEGABYTE}), control(20, requested={"cc_time": 600}))
    )
    assert initial.result_code == SUCCESS
    data, voice = by_group(initial)[10], by_group(initial)[20]
    assert (data.result_code, data.granted_service_unit.cc_total_octets, data.validity_time) == (SUCCESS, 5 * MEGABYTE, 600)
    assert data.volume_quota_threshold == MEGABYTE
    assert data.final_unit_indication is None
    assert (voice.granted_service_unit.cc_time, voice.time_quota_threshold) == (480, 96)
    assert voice.final_unit_indication.final_unit_action == constants.E_FINAL_UNIT_ACTION_TERMINATE

    update = gy.send(
        ccr(
            "pgw;1;1",
            UPDATE,
            1,
            control(10, requested={"cc_total_octets": MEGABYTE}, used={"cc_input_octets": 3 * MEGABYTE, "cc_output_octets": 2 * MEGABYTE}),
        )
    )
    exhausted = by_group(update)[10]
    assert update.result_code == constants.E_RESULT_CODE_DIAMETER_CREDIT_LIMIT_REACHED
    assert exhausted.result_code == constants.E_RESULT_CODE_DIAMETER_CREDIT_LIMIT_REACHED
    assert exhausted.granted_service_unit is None
    assert exhausted.final_unit_indication.final_unit_action == constants.E_FINAL_UNIT_ACTION_REDIRECT
    assert exhausted.final_unit_indication.redirect_server.redirect_server_address == "http://topup.example/"
    assert balance(world) == Decimal("5.00")

    termination = gy.send(ccr("pgw;1;1", TERMINATION, 2, control(20, used={"cc_time": 61}, ask=False)))
    assert termination.result_code == SUCCESS
    assert balance(world) == Decimal("3.80")
    assert reserved(world) == 0


def test_retransmitted_ccr_answers_the_stored_answer_and_charges_once(world: Engine, gy: GyClient) -> None:
    gy.send(ccr("pgw;2;1", INITIAL, 0, control(10, requested={"cc_total_octets": MEGABYTE})))
    update = ccr("pgw;2;1", UPDATE, 1, control(10, requested={"cc_total_octets": MEGABYTE}, used={"cc_total_octets": MEGABYTE}))
    first = gy.send(update)
    update.header.is_retransmit = True
    update.header.hop_by_hop_identifier = 0  # the client's node numbers the copy anew
    again = gy.send(update)
    assert (first.result_code, again.result_code) == (SUCCESS, SUCCESS)
    assert by_group(again)[10].granted_service_unit == by_group(first)[10].granted_service_unit
    assert balance(world) == Decimal("9.00")


def test_request_number_out_of_order_is_invalid_avp_value_naming_it(world: Engine, gy: GyClient) -> None:
    gy.send(ccr("pgw;3;1", INITIAL, 0, control(10, requested={"cc_total_octets": MEGABYTE})))
    refused = gy.send(ccr("pgw;3;1", UPDATE, 7, control(10, used={"cc_total_octets": MEGABYTE})))
    assert refused.result_code == constants.E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE
    failed = refused.failed_avp[0].additional_avps[0]
    assert (failed.code, failed.value) == (constants.AVP_CC_REQUEST_NUMBER, 7)
    assert balance(world) == Decimal("10.00")


def test_unknown_session_is_unknown_session_id(gy: GyClient) -> None:
    refused = gy.send(ccr("pgw;never;started", UPDATE, 1, control(10, used={"cc_total_octets": 1})))
    assert refused.result_code == constants.E_RESULT_CODE_DIAMETER_UNKNOWN_SESSION_ID


def test_missing_mandatory_avp_is_missing_avp(gy: GyClient) -> None:
    request = ccr("pgw;4;1", INITIAL, 0, control(10))
    request.service_context_id = None
    refused = gy.send(request)
    assert refused.result_code == constants.E_RESULT_CODE_DIAMETER_MISSING_AVP
    assert refused.failed_avp[0].additional_avps[0].code == constants.AVP_SERVICE_CONTEXT_ID


def test_result_codes_per_rating_group(world: Engine, gy: GyClient) -> None:
    answer = gy.send(
        ccr("pgw;5;1", INITIAL, 0, control(30, requested={"cc_service_specific_units": 3}), control(40), control(50), control(99))
    )
    codes = {group: mscc.result_code for group, mscc in by_group(answer).items()}
    assert codes == {
        30: SUCCESS,
        40: constants.E_RESULT_CODE_DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE,
        50: constants.E_RESULT_CODE_DIAMETER_USER_UNKNOWN,
        99: constants.E_RESULT_CODE_DIAMETER_RATING_FAILED,
    }
    assert answer.result_code == SUCCESS


def test_unknown_subscriber_and_blocked_account(world: Engine, gy: GyClient) -> None:
    unknown = gy.send(ccr("pgw;6;1", INITIAL, 0, control(10), imsi="999990000000000"))
    assert unknown.result_code == constants.E_RESULT_CODE_DIAMETER_USER_UNKNOWN
    from kopek import SubscriberAccountUpdate

    world.update_subscriber_account("alice", SubscriberAccountUpdate.model_validate({"status": "blocked"}))
    denied = gy.send(ccr("pgw;7;1", INITIAL, 0, control(10)))
    assert denied.result_code == constants.E_RESULT_CODE_DIAMETER_END_USER_SERVICE_DENIED


def test_event_direct_debiting_refund_and_price_enquiry(world: Engine, gy: GyClient) -> None:
    price = gy.send(
        ccr("pgw;e;1", EVENT, 0, control(30, requested={"cc_service_specific_units": 4}), action=constants.E_REQUESTED_ACTION_PRICE_ENQUIRY)
    )
    assert price.result_code == SUCCESS
    assert (price.cost_information.unit_value.value_digits, price.cost_information.unit_value.exponent) == (200, -2)
    assert price.cost_information.currency_code == CURRENCY_CODES["EUR"]
    assert balance(world) == Decimal("10.00")

    debit = ccr(
        "pgw;e;2", EVENT, 0, control(30, requested={"cc_service_specific_units": 4}), action=constants.E_REQUESTED_ACTION_DIRECT_DEBITING
    )
    assert gy.send(debit).result_code == SUCCESS
    debit.header.is_retransmit = True
    debit.header.hop_by_hop_identifier = 0
    assert gy.send(debit).result_code == SUCCESS
    assert balance(world) == Decimal("8.00")

    refund = gy.send(
        ccr(
            "pgw;e;3", EVENT, 0, control(30, requested={"cc_service_specific_units": 2}), action=constants.E_REQUESTED_ACTION_REFUND_ACCOUNT
        )
    )
    assert refund.result_code == SUCCESS
    assert balance(world) == Decimal("9.00")

    too_much = gy.send(
        ccr(
            "pgw;e;4",
            EVENT,
            0,
            control(30, requested={"cc_service_specific_units": 40}),
            action=constants.E_REQUESTED_ACTION_DIRECT_DEBITING,
        )
    )
    assert too_much.result_code == constants.E_RESULT_CODE_DIAMETER_CREDIT_LIMIT_REACHED
    assert balance(world) == Decimal("9.00")


def test_device_watchdog_is_answered(world: Engine) -> None:
    """A raw DWR after a CER on a plain socket: the node answers DWA with DIAMETER_SUCCESS."""
    from diameter.message.commands.capabilities_exchange import CapabilitiesExchangeRequest

    port = free_port()
    with kopek_node(world, mapping(), port), socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        cer = CapabilitiesExchangeRequest()
        cer.origin_host = b"pgw.test.example"
        cer.origin_realm = b"test.example"
        cer.host_ip_address = ["127.0.0.1"]
        cer.vendor_id = 10415
        cer.product_name = "test-pgw"
        cer.auth_application_id = [constants.APP_DIAMETER_CREDIT_CONTROL_APPLICATION]
        cer.header.hop_by_hop_identifier, cer.header.end_to_end_identifier = 1, 1
        raw.sendall(cer.as_bytes())
        assert _read_message(raw).result_code == SUCCESS
        dwr = DeviceWatchdogRequest()
        dwr.origin_host = b"pgw.test.example"
        dwr.origin_realm = b"test.example"
        dwr.header.hop_by_hop_identifier, dwr.header.end_to_end_identifier = 2, 2
        raw.sendall(dwr.as_bytes())
        answer = _read_message(raw)
        assert (answer.header.command_code, answer.header.is_request, answer.result_code) == (280, False, SUCCESS)
    assert SERVER_REALM == "localdomain"


def _read_message(connection: socket.socket) -> Message:
    header = _read_exactly(connection, 4)
    length = struct.unpack("!I", b"\0" + header[1:4])[0]
    return Message.from_bytes(header + _read_exactly(connection, length - 4))


def _read_exactly(connection: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        assert chunk, "the connection closed"
        data += chunk
    return data

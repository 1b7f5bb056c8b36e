"""A Diameter credit-control client, as a PGW would be, over a real TCP socket on 127.0.0.1; and kopek's node."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from diameter.message import constants
from diameter.message.avp.grouped import RequestedServiceUnit, UsedServiceUnit
from diameter.message.commands.credit_control import CreditControlAnswer, CreditControlRequest
from diameter.node import Node
from diameter.node.application import SimpleThreadingApplication

from kopek import Engine
from kopek.protocols.diameter.server import DiameterSettings, diameter_node
from kopek.protocols.mapping import ProtocolMapping

CLIENT_IDENTITY = "pgw.test.example"
SERVER_IDENTITY = "kopek.localdomain"
SERVER_REALM = "localdomain"
READY_SECONDS_MAX = 10
ANSWER_SECONDS_MAX = 10
STOP_SECONDS_MAX = 30

_stopping: list[threading.Thread] = []
"""Nodes being stopped: python-diameter joins its idle threads for seconds after the sockets close, so a test
starts that in the background and the session waits for them all at its end (:func:`wait_for_stopped_nodes`)."""


def _stop_in_background(node: Node) -> None:
    stopping = threading.Thread(target=node.stop, kwargs={"wait_timeout": 5, "force": True}, name="diameter-node-stop", daemon=True)
    stopping.start()
    _stopping.append(stopping)


def wait_for_stopped_nodes() -> None:
    """Join every node stop started by the tests; a node that will not stop fails the run."""
    while _stopping:
        stopping = _stopping.pop()
        stopping.join(STOP_SECONDS_MAX)
        assert not stopping.is_alive(), "a Diameter node did not stop"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def kopek_node(engine: Engine, mapping: ProtocolMapping, port: int) -> Iterator[Node]:
    """kopek's Diameter node, listening on 127.0.0.1:``port``, known peer: the test client."""
    node = diameter_node(engine, mapping, DiameterSettings(SERVER_IDENTITY, SERVER_REALM, (CLIENT_IDENTITY,), port=port))
    node.wakeup_interval = 1
    node.start()
    try:
        yield node
    finally:
        _stop_in_background(node)


@dataclass
class GyClient:
    """The client side of python-diameter: a node with the credit-control application, connected to kopek."""

    node: Node
    application: SimpleThreadingApplication

    def send(self, request: CreditControlRequest) -> CreditControlAnswer:
        answer = self.application.send_request(request, timeout=ANSWER_SECONDS_MAX)
        assert isinstance(answer, CreditControlAnswer), answer
        return answer


@contextmanager
def gy_client(port: int, *, identity: str = CLIENT_IDENTITY) -> Iterator[GyClient]:
    node = Node(identity, identity.partition(".")[2])
    node.wakeup_interval = 1
    node.idle_timeout = 30
    peer = node.add_peer(f"aaa://{SERVER_IDENTITY}:{port};transport=tcp", SERVER_REALM, ip_addresses=["127.0.0.1"], is_persistent=True)
    application = SimpleThreadingApplication(constants.APP_DIAMETER_CREDIT_CONTROL_APPLICATION, is_auth_application=True)
    node.add_application(application, [peer])
    node.start()
    try:
        application.wait_for_ready(timeout=READY_SECONDS_MAX)
        yield GyClient(node, application)
    finally:
        _stop_in_background(node)


def ccr(
    session_id: str,
    request_type: int,
    number: int,
    *controls: dict[str, Any],
    imsi: str | None = "001010000000001",
    action: int | None = None,
) -> CreditControlRequest:
    """A CCR as a PGW sends it; ``controls`` are Multiple-Services-Credit-Control entries as keyword dictionaries."""
    request = CreditControlRequest()
    request.session_id = session_id
    request.origin_host = CLIENT_IDENTITY.encode()
    request.origin_realm = CLIENT_IDENTITY.partition(".")[2].encode()
    request.destination_realm = SERVER_REALM.encode()
    request.service_context_id = "32251@3gpp.org"
    request.cc_request_type = request_type
    request.cc_request_number = number
    if imsi is not None:
        request.add_subscription_id(constants.E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI, imsi)
    if action is not None:
        request.requested_action = action
    for control in controls:
        request.add_multiple_services_credit_control(**control)
    return request


def control(
    rating_group: int, *, requested: dict[str, int] | None = None, used: dict[str, int] | None = None, ask: bool = True
) -> dict[str, Any]:
    entry: dict[str, Any] = {"rating_group": rating_group}
    if ask:
        entry["requested_service_unit"] = RequestedServiceUnit(**(requested or {}))
    if used is not None:
        entry["used_service_unit"] = UsedServiceUnit(**used)
    return entry


def by_group(answer: CreditControlAnswer) -> dict[int, Any]:
    return {mscc.rating_group: mscc for mscc in answer.multiple_services_credit_control}


INITIAL = constants.E_CC_REQUEST_TYPE_INITIAL_REQUEST
UPDATE = constants.E_CC_REQUEST_TYPE_UPDATE_REQUEST
TERMINATION = constants.E_CC_REQUEST_TYPE_TERMINATION_REQUEST
EVENT = constants.E_CC_REQUEST_TYPE_EVENT_REQUEST

"""The Diameter node of ``kopek diameter serve``: TCP, capabilities exchange, device watchdog and disconnect
(handled by the python-diameter node), and the credit-control application (:mod:`kopek.protocols.diameter.gy`).

Only known peers may connect (each ``--peer`` Diameter identity); a CER from another host is refused
with DIAMETER_UNKNOWN_PEER. Requests are answered in worker threads, at most ``max_threads`` at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from diameter.message import Message, constants
from diameter.message.commands.credit_control import CreditControlRequest
from diameter.node import Node
from diameter.node.application import ThreadingApplication

from kopek.engine import Engine
from kopek.protocols.diameter.gy import CreditControl
from kopek.protocols.mapping import ProtocolMapping

logger = logging.getLogger("kopek.protocols")

DIAMETER_PORT_DEFAULT = 3868
WORKER_THREADS_MAX = 32
"""CCRs answered at once; beyond, the node answers DIAMETER_TOO_BUSY."""


@dataclass(frozen=True, slots=True)
class DiameterSettings:
    """Who the node is, where it listens, and the Diameter identities (FQDNs) of the peers allowed to connect.

    A peer's realm is its identity without the first label (``pgw1.operator.example`` is in ``operator.example``).
    """

    origin_host: str
    realm: str
    peers: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = DIAMETER_PORT_DEFAULT
    idle_timeout_seconds: int = 30


class CreditControlApplication(ThreadingApplication):  # type: ignore[misc]
    """Application 4 (Diameter credit control) on a node; each request answered in a worker thread."""

    def __init__(self, credit_control: CreditControl) -> None:
        super().__init__(constants.APP_DIAMETER_CREDIT_CONTROL_APPLICATION, is_auth_application=True, max_threads=WORKER_THREADS_MAX)
        self.credit_control = credit_control

    def handle_request(self, message: Message) -> Message:
        if not isinstance(message, CreditControlRequest):
            return self.generate_answer(message, result_code=constants.E_RESULT_CODE_DIAMETER_COMMAND_UNSUPPORTED)
        try:
            return self.credit_control.answer(message, self.generate_answer(message))
        except Exception:
            logger.exception("CCR %s/%s could not be answered", message.session_id, message.cc_request_number)
            return self.generate_answer(message, result_code=constants.E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY)


def diameter_node(engine: Engine, mapping: ProtocolMapping, settings: DiameterSettings) -> Node:
    """A node listening on ``settings.host``:``settings.port`` (not started) with the credit-control application."""
    node = Node(
        settings.origin_host, settings.realm, ip_addresses=[settings.host], tcp_port=settings.port, vendor_ids=[constants.VENDOR_TGPP]
    )
    node.product_name = "kopek"
    node.idle_timeout = settings.idle_timeout_seconds
    # Retransmissions (T flag) are answered by the application from its stored answers, not refused by the node.
    node.retransmit_queue_size = 0
    peers = [node.add_peer(f"aaa://{identity}", identity.partition(".")[2] or settings.realm) for identity in settings.peers]
    node.add_application(CreditControlApplication(CreditControl(engine, mapping)), peers, realms=[settings.realm])
    return node


def serve_diameter(engine: Engine, mapping: ProtocolMapping, settings: DiameterSettings, stop: threading.Event) -> None:
    """Run the node until ``stop`` is set, then disconnect its peers (DPR) and close."""
    node = diameter_node(engine, mapping, settings)
    node.start()
    logger.info("Diameter credit control listening on %s:%s as %s", settings.host, settings.port, settings.origin_host)
    try:
        stop.wait()
    finally:
        node.stop(wait_timeout=5)

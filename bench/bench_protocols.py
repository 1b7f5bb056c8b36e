"""The protocol adapters over loopback, each server in its own process: Diameter CCR round trips per second
(``kopek diameter serve``, the python-diameter client) and the latency of Nchf updates over cleartext HTTP/2
(``kopek serve``, an httpx HTTP/2 client).

Every timed request is an update of a live rating group: usage of 1 MB charged, 1 MB granted and reserved
again, one commit per rating group plus the stored answer. The Diameter row runs ``threads`` Gy sessions at
once over one connection; the Nchf row one charging data resource, one request after another.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from bench.measure import Row, run_threads, timed_loop
from kopek import AccessInput, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document

SERVER_START_SECONDS_MAX = 60
MEGABYTE = 1_000_000
CATALOG = """
item_classes:
  - {name: data_session, quantity: volume, properties: [{name: volume, type: integer, unit: bytes}]}
charge_plans:
  - name: data
    currency: EUR
    charges:
      - {name: data, item_class: data_session, account_role: payer, rounding: {decimals: 2, mode: half_up},
         price: {type: rate, amount: "0.01", unit: megabytes, increment: 1}}
"""
MAPPING = """
subscribers: [{pattern: '^imsi-(?P<user>[0-9]+)$', service_id: mobile}]
rating_groups: {10: {item_class: data_session, unit: volume, default_quota: 1000000}}
"""


def _world(url: str, subscribers: int) -> None:
    with Engine(url) as engine:
        engine.load_catalog(parse_document(CATALOG, source="bench-protocols.yaml"))
        for number in range(subscribers):
            holder = f"sub{number}"
            engine.create_subscriber_account(
                SubscriberAccountInput.model_validate(
                    {
                        "id": holder,
                        "currency": "EUR",
                        "accounts": [{"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": "100000"}],
                    }
                )
            )
            engine.create_contract(
                ContractInput.model_validate(
                    {"id": f"{holder}-c", "subscriber_account_id": holder, "valid_from": "2026-01-01T00:00:00Z",
                     "items": [{"id": "main", "charge_plan": "data"}], "roles": {"payer": f"{holder}-prepaid"}}
                )
            )  # fmt: skip
            engine.create_access(
                AccessInput.model_validate(
                    {
                        "service_id": "mobile",
                        "user_id": f"{number:015d}",
                        "contract_id": f"{holder}-c",
                        "valid_from": "2026-01-01T00:00:00Z",
                    }
                )
            )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _server(arguments: list[str], url: str, port: int) -> Iterator[None]:
    environment = {**os.environ, "KOPEK_DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", *arguments], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while True:
            if process.poll() is not None:
                raise RuntimeError("the server stopped")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(timeout=SERVER_START_SECONDS_MAX)


@contextmanager
def _mapping_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kopek-bench-mapping-") as folder:
        path = Path(folder) / "mapping.yaml"
        path.write_text(MAPPING)
        yield path


def run_diameter(database: str, open_database: Callable[[], AbstractContextManager[str]], *, requests: int, threads: int) -> Row:
    from diameter.message import constants
    from diameter.message.avp.grouped import RequestedServiceUnit, UsedServiceUnit
    from diameter.message.commands.credit_control import CreditControlRequest
    from diameter.node import Node
    from diameter.node.application import SimpleThreadingApplication

    def ccr(client: SimpleThreadingApplication, session: int, kind: int, number: int) -> object:
        request = CreditControlRequest()
        request.session_id = f"pgw.bench.example;{session}"
        request.origin_host, request.origin_realm, request.destination_realm = b"pgw.bench.example", b"bench.example", b"localdomain"
        request.service_context_id = "32251@3gpp.org"
        request.cc_request_type, request.cc_request_number = kind, number
        request.add_subscription_id(constants.E_SUBSCRIPTION_ID_TYPE_END_USER_IMSI, f"{session:015d}")
        used = [UsedServiceUnit(cc_total_octets=MEGABYTE)] if number else None
        request.add_multiple_services_credit_control(
            rating_group=10, requested_service_unit=RequestedServiceUnit(cc_total_octets=MEGABYTE), used_service_unit=used
        )
        answer = client.send_request(request, timeout=30)
        if answer.result_code != constants.E_RESULT_CODE_DIAMETER_SUCCESS:
            raise RuntimeError(f"CCR answered {answer.result_code}")
        return answer

    port = _free_port()
    with open_database() as url, _mapping_file() as mapping:
        _world(url, threads)
        arguments = ["diameter", "serve", "--port", str(port), "--protocol-mapping", str(mapping), "--peer", "pgw.bench.example"]
        with _server(arguments, url, port):
            node = Node("pgw.bench.example", "bench.example")
            peer = node.add_peer(
                f"aaa://kopek.localdomain:{port};transport=tcp", "localdomain", ip_addresses=["127.0.0.1"], is_persistent=True
            )
            client = SimpleThreadingApplication(constants.APP_DIAMETER_CREDIT_CONTROL_APPLICATION, is_auth_application=True)
            node.add_application(client, [peer])
            node.start()
            try:
                client.wait_for_ready(timeout=30)
                for session in range(threads):
                    ccr(client, session, constants.E_CC_REQUEST_TYPE_INITIAL_REQUEST, 0)
                per_session = max(1, requests // threads)
                calls = [
                    [
                        lambda s=session, n=number: ccr(client, s, constants.E_CC_REQUEST_TYPE_UPDATE_REQUEST, n)
                        for number in range(1, per_session + 1)
                    ]
                    for session in range(threads)
                ]
                timings = run_threads(calls)
            finally:
                node.stop(wait_timeout=5, force=True)
    note = "CCR-U round trips: 1 MB charged, 1 MB granted; server in its own process"
    return Row(
        "protocols: Diameter CCR-U", database, threads, per_session * threads, timings.wall, timings.latencies, timings.refused, note
    )


def run_nchf(database: str, open_database: Callable[[], AbstractContextManager[str]], *, requests: int) -> Row:
    import httpx

    base = "/nchf-convergedcharging/v3/chargingdata"

    def body(sequence: int) -> dict[str, object]:
        usage: dict[str, object] = {"ratingGroup": 10, "requestedUnit": {"totalVolume": MEGABYTE}}
        if sequence:
            usage["usedUnitContainer"] = [{"localSequenceNumber": sequence, "totalVolume": MEGABYTE}]
        return {
            "subscriberIdentifier": f"imsi-{0:015d}",
            "nfConsumerIdentification": {"nodeFunctionality": "SMF"},
            "invocationTimeStamp": "2026-06-01T12:00:00Z",
            "invocationSequenceNumber": sequence,
            "multipleUnitUsage": [usage],
        }

    port = _free_port()
    with open_database() as url, _mapping_file() as mapping:
        _world(url, 1)
        arguments = [
            "serve",
            "--port",
            str(port),
            "--protocol-mapping",
            str(mapping),
            "--log-level",
            "warning",
            "--cleanup-interval-seconds",
            "0",
        ]
        with _server(arguments, url, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", http1=False, http2=True, timeout=30) as smf:
            created = smf.post(base, json=body(0))
            created.raise_for_status()
            reference = created.headers["location"].rsplit("/", 1)[1]

            def update(sequence: int) -> None:
                smf.post(f"{base}/{reference}/update", json=body(sequence)).raise_for_status()

            timings = timed_loop([lambda n=number: update(n) for number in range(1, requests + 1)])
    note = "update over h2c: 1 MB charged, 1 MB granted; server in its own process"
    return Row("protocols: Nchf update", database, 1, requests, timings.wall, timings.latencies, timings.refused, note)

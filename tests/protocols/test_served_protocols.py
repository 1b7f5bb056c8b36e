"""The servers as a network element meets them: ``kopek serve`` (Nchf over cleartext HTTP/2) and ``kopek diameter
serve`` (Gy over TCP) in their own processes, the bytes they exchange recorded and decoded by tshark."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from diameter.message import constants

from kopek import Engine
from kopek.charging.refills import RefillCommand
from tests.protocol_world import MAPPING_YAML, MEGABYTE, balance, build_world
from tests.protocols.capture import relay, write_pcap
from tests.protocols.diameter_support import CLIENT_IDENTITY, INITIAL, TERMINATION, UPDATE, by_group, ccr, control, free_port, gy_client
from tests.protocols.nchf_support import BASE, request, usage

SERVER_START_SECONDS_MAX = 30
NOTIFY_SECONDS_MAX = 30
TSHARK_SECONDS_MAX = 60

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by scripts/test")


@pytest.fixture
def served_world(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with Engine(url) as engine:
        build_world(engine)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_YAML)
    yield url, mapping


@contextmanager
def _process(arguments: list[str], url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    environment = {**os.environ, "KOPEK_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "kopek.cli", *arguments], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for_port(port, server)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=SERVER_START_SECONDS_MAX)
        finally:
            assert server.stderr is not None
            server.stderr.close()


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while True:
        assert server.poll() is None, "the server stopped"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _tshark(pcap: Path, decode_as: str, *fields: str) -> list[list[str]]:
    shown = subprocess.run(
        ["tshark", "-r", str(pcap), "-d", decode_as, "-T", "fields", "-E", "separator=|", *[f"-e{field}" for field in fields]],
        capture_output=True,
        text=True,
        timeout=TSHARK_SECONDS_MAX,
        check=True,
    )
    return [line.split("|") for line in shown.stdout.splitlines() if line.strip("|")]


@needs_tshark
def test_nchf_pdu_session_over_h2c_with_refill_notify_decoded_by_tshark(
    served_world: tuple[str, Path], tmp_path: Path, notify_server: tuple[str, list[dict[str, object]]]
) -> None:
    url, mapping = served_world
    notify_uri, received = notify_server
    port = free_port()
    arguments = ["serve", "--port", str(port), "--protocol-mapping", str(mapping), "--nchf-notify-interval-seconds", "0.2"]
    with _process(arguments, url, port), relay(port) as recorded:
        with httpx.Client(base_url=f"http://127.0.0.1:{recorded.port}", http1=False, http2=True, timeout=10) as smf:
            created = smf.post(
                f"{BASE}/chargingdata",
                json=request(
                    0, usage(10, requested={"totalVolume": 5 * MEGABYTE}), usage(20, requested={"time": 600}), notify_uri=notify_uri
                ),
            )
            assert (created.http_version, created.status_code) == ("HTTP/2", 201)
            reference = created.headers["location"].rsplit("/", 1)[1]
            exhausted = smf.post(
                f"{BASE}/chargingdata/{reference}/update",
                json=request(1, usage(10, requested={"totalVolume": MEGABYTE}, used={"totalVolume": 5 * MEGABYTE})),
            )
            assert exhausted.json()["multipleUnitInformation"][0]["resultCode"] == "QUOTA_LIMIT_REACHED"
            with Engine(url) as engine:
                engine.refill(RefillCommand("topup-1", "alice-contract", "topup", Decimal("20.00")))
            deadline = time.monotonic() + NOTIFY_SECONDS_MAX
            while not received and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [notice["body"]["notificationType"] for notice in received] == ["REAUTHORIZATION"]  # type: ignore[index]
            released = smf.post(
                f"{BASE}/chargingdata/{reference}/release",
                json=request(2, usage(10, used={"totalVolume": 0}, ask=False), usage(20, used={"time": 60}, ask=False)),
            )
            assert released.status_code == 204
        with Engine(url) as engine:
            assert balance(engine) == Decimal("24.40")  # 10.00 + 20.00 - 5.00 data - 0.60 voice

    pcap = tmp_path / "nchf.pcap"
    write_pcap(pcap, recorded.chunks, server_port=port)
    frames = _tshark(pcap, f"tcp.port=={port},http2", "http2.type", "http2.header.name", "http2.header.value")
    headers = [dict(zip(names.split(","), values.split(","), strict=False)) for _, names, values in frames if names]
    paths = [header[":path"] for header in headers if ":path" in header]
    statuses = [header[":status"] for header in headers if ":status" in header]
    assert paths == [f"{BASE}/chargingdata", f"{BASE}/chargingdata/{reference}/update", f"{BASE}/chargingdata/{reference}/release"]
    assert statuses == ["201", "200", "204"]
    assert {"0", "1", "4"} <= {kind for row in frames for kind in row[0].split(",")}  # DATA, HEADERS, SETTINGS frames


@needs_tshark
def test_gy_ccr_initial_update_termination_with_retransmission_decoded_by_tshark(served_world: tuple[str, Path], tmp_path: Path) -> None:
    url, mapping = served_world
    port = free_port()
    arguments = ["diameter", "serve", "--port", str(port), "--protocol-mapping", str(mapping), "--peer", CLIENT_IDENTITY]
    with _process(arguments, url, port), relay(port) as recorded, gy_client(recorded.port) as pgw:
        initial = pgw.send(ccr("pgw;9;1", INITIAL, 0, control(10, requested={"cc_total_octets": 2 * MEGABYTE})))
        assert by_group(initial)[10].granted_service_unit.cc_total_octets == 2 * MEGABYTE
        update = ccr("pgw;9;1", UPDATE, 1, control(10, requested={"cc_total_octets": MEGABYTE}, used={"cc_total_octets": 2 * MEGABYTE}))
        assert pgw.send(update).result_code == constants.E_RESULT_CODE_DIAMETER_SUCCESS
        update.header.is_retransmit = True
        update.header.hop_by_hop_identifier = 0
        assert pgw.send(update).result_code == constants.E_RESULT_CODE_DIAMETER_SUCCESS
        termination = pgw.send(ccr("pgw;9;1", TERMINATION, 2, control(10, used={"cc_total_octets": 1}, ask=False)))
        assert termination.result_code == constants.E_RESULT_CODE_DIAMETER_SUCCESS
    with Engine(url) as engine:
        assert balance(engine) == Decimal("7.00")  # 2 MB then 1 started MB, the retransmission charged nothing

    pcap = tmp_path / "gy.pcap"
    write_pcap(pcap, recorded.chunks, server_port=port)
    rows = _tshark(
        pcap, f"tcp.port=={port},diameter", "diameter.cmd.code", "diameter.flags.request", "diameter.flags.T", "diameter.CC-Request-Type",
        "diameter.CC-Request-Number", "diameter.Result-Code",
    )  # fmt: skip
    requests = [
        (code, kind, number, retransmitted) for code, request_flag, retransmitted, kind, number, _ in rows if request_flag in ("1", "True")
    ]
    assert ("257", "", "", "0") in [(code, kind, number, flag) for code, kind, number, flag in requests]  # CER
    credit_control = [(kind, number, flag) for code, kind, number, flag in requests if code == "272"]
    assert credit_control == [("1", "0", "0"), ("2", "1", "0"), ("2", "1", "1"), ("3", "2", "0")]
    answers = [result.split(",")[0] for code, request_flag, _, _, _, result in rows if code == "272" and request_flag in ("0", "False")]
    assert answers == ["2001", "2001", "2001", "2001"]

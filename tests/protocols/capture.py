"""Recording what a client and a server exchange, for an independent decoder (tshark) to read.

A relay on 127.0.0.1 passes every byte between the client and the server and keeps them in
order; :func:`write_pcap` writes them as one TCP connection (handshake, segments, real sequence
numbers) in a pcap file, so ``tshark -r`` decodes it without any capture privilege.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEGMENT_BYTES_MAX = 1_400
CLIENT_PORT = 40_000


class Relay:
    """Accepts one connection at a time on ``port`` and relays it to ``target_port``, recording each chunk."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.chunks: list[tuple[bool, bytes]] = []
        """(from the client, bytes), in the order the relay passed them on."""
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    def start(self) -> None:
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()
        self._threads.append(accepting)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink, from_client in ((client, server, True), (server, client, False)):
                pump = threading.Thread(target=self._pump, args=(source, sink, from_client), daemon=True)
                pump.start()
                self._threads.append(pump)

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while chunk := source.recv(65_536):
                with self._lock:
                    self.chunks.append((from_client, chunk))
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()


@contextmanager
def relay(target_port: int) -> Iterator[Relay]:
    opened = Relay(target_port)
    opened.start()
    try:
        yield opened
    finally:
        opened.close()


def write_pcap(path: Path, chunks: list[tuple[bool, bytes]], *, server_port: int) -> None:
    """``chunks`` as one TCP connection from 127.0.0.1:CLIENT_PORT to 127.0.0.1:``server_port`` (Ethernet, IPv4)."""
    frames: list[bytes] = []
    sequence = {True: 1_000, False: 5_000}
    syn, ack, psh = 0x02, 0x10, 0x08
    frames.append(_frame(True, server_port, sequence[True] - 1, 0, syn))
    frames.append(_frame(False, server_port, sequence[False] - 1, sequence[True], syn | ack))
    frames.append(_frame(True, server_port, sequence[True], sequence[False], ack))
    for from_client, data in chunks:
        for start in range(0, len(data), SEGMENT_BYTES_MAX):
            segment = data[start : start + SEGMENT_BYTES_MAX]
            frames.append(_frame(from_client, server_port, sequence[from_client], sequence[not from_client], psh | ack, segment))
            sequence[from_client] += len(segment)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65_535, 1)  # pcap, Ethernet link type
    records = [struct.pack("<IIII", index, 0, len(frame), len(frame)) + frame for index, frame in enumerate(frames)]
    path.write_bytes(header + b"".join(records))


def _frame(from_client: bool, server_port: int, sequence: int, acknowledged: int, flags: int, payload: bytes = b"") -> bytes:
    ports = (CLIENT_PORT, server_port) if from_client else (server_port, CLIENT_PORT)
    tcp = struct.pack("!HHIIBBHHH", *ports, sequence, acknowledged, 5 << 4, flags, 65_535, 0, 0) + payload
    total = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    return ethernet + ip + tcp


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

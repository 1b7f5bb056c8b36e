"""``kopek diameter serve``: the Diameter credit-control server (RFC 4006, Gy) over TCP (docs/protocols.md)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from kopek.cli.options import DatabaseUrl, open_engine
from kopek.cli.output import Output, reporting
from kopek.engine import Engine

app = typer.Typer(rich_markup_mode=None, help="The Diameter credit-control server (Gy).", no_args_is_help=True)
logger = logging.getLogger("kopek.protocols")


@app.command("serve")
def serve(
    protocol_mapping: Annotated[
        Path, typer.Option("--protocol-mapping", help="The protocol mapping file (docs/protocols.md).", dir_okay=False, exists=True)
    ],
    peers: Annotated[
        list[str], typer.Option("--peer", help="The Diameter identity (FQDN) of a client allowed to connect; repeat for each.")
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.", min=1, max=65535)] = 3868,
    origin_host: Annotated[str, typer.Option("--origin-host", help="kopek's Diameter identity.")] = "kopek.localdomain",
    realm: Annotated[str, typer.Option("--realm", help="kopek's Diameter realm.")] = "localdomain",
    cleanup_interval_seconds: Annotated[
        float, typer.Option("--cleanup-interval-seconds", help="Clean up expired charging sessions this often; 0 disables.", min=0)
    ] = 10,
    database_url: DatabaseUrl = None,
) -> None:
    """Answer Diameter credit-control requests (CCR-I/U/T and EVENT) from the given peers until stopped."""
    output = Output()
    with reporting(output):
        # Imported here so that the rest of the CLI works without the Diameter stack loaded.
        from kopek.protocols.diameter.server import DiameterSettings, serve_diameter
        from kopek.protocols.mapping import read_mapping

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        mapping = read_mapping(protocol_mapping)
        stop = threading.Event()
        for received in (signal.SIGINT, signal.SIGTERM):
            signal.signal(received, lambda *_: stop.set())
        with open_engine(database_url) as engine:
            cleaner = threading.Thread(target=_clean_up, args=(engine, cleanup_interval_seconds, stop), daemon=True)
            if cleanup_interval_seconds > 0:
                cleaner.start()
            settings = DiameterSettings(origin_host=origin_host, realm=realm, peers=tuple(peers), host=host, port=port)
            serve_diameter(engine, mapping, settings, stop)


def _clean_up(engine: Engine, interval_seconds: float, stop: threading.Event) -> None:
    while not stop.wait(interval_seconds):
        try:
            engine.cleanup_expired_sessions()
        except Exception:
            logger.exception("session clean-up pass failed")

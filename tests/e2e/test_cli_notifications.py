"""``kopek notifications list`` and ``publish`` (once, as from cron); ``accounts create`` sets a low balance threshold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kopek import Engine
from kopek.notify.publisher import PublisherSettings
from tests.e2e.cli_support import Kopek
from tests.e2e.test_cli_serve import SERVER_START_SECONDS_MAX, _free_port, _wait_for_health
from tests.notify_support import add_prepaid, load_catalog_with_topup, publishing, received, sms

__all__ = ["publishing"]


@pytest.fixture
def kopek(any_url: str) -> Kopek:
    """carol (0.80 EUR, threshold 0.75) charged one SMS: one low_balance notification stored."""
    with Engine(any_url) as engine:
        load_catalog_with_topup(engine)
        add_prepaid(engine, "carol", balance="0.80", threshold="0.75")
        engine.charge(sms("carol"))
    return Kopek(url=any_url)


def _nats(settings: PublisherSettings) -> list[str]:
    return ["--nats-url", settings.nats_url, "--nats-subject-prefix", settings.subject_prefix, "--nats-stream", settings.stream]


def test_notifications_are_listed_as_json_and_as_a_table(kopek: Kopek) -> None:
    listed = kopek.json("notifications", "list", "--contract", "carol-contract", "--kind", "low_balance")["notifications"]
    table = kopek.ok("notifications", "list").stdout

    assert [(note["kind"], note["data"]["balance"], note["published_at"]) for note in listed] == [("low_balance", "0.70", None)]
    assert kopek.json("notifications", "list", "--after-id", str(listed[0]["id"]))["notifications"] == []
    assert "low_balance" in table and "below its low balance threshold" in table


def test_publish_drains_the_outbox_once_and_a_second_run_sends_nothing(kopek: Kopek, publishing: PublisherSettings) -> None:
    first = kopek.json("notifications", "publish", *_nats(publishing))
    second = kopek.json("notifications", "publish", *_nats(publishing))

    arrived = received(publishing)
    assert (first["published"], second["published"]) == (1, 0)
    assert [(message.subject, message.document["kind"]) for message in arrived] == [(publishing.subject("low_balance"), "low_balance")]
    assert kopek.json("notifications", "list")["notifications"][0]["published_at"] is not None


def test_publish_reads_the_nats_url_from_the_environment(any_url: str, kopek: Kopek, publishing: PublisherSettings) -> None:
    from_env = Kopek(url=any_url, env={"KOPEK_NATS_URL": publishing.nats_url})

    report = from_env.json("notifications", "publish", *_nats(publishing)[2:])

    assert report == {"published": 1, "duplicates": 0, "more_waiting": False}


def test_publish_without_a_url_exits_2_with_nats_away_75_and_keeps_the_outbox(kopek: Kopek) -> None:
    missing = kopek.refused("notifications", "publish", exit_code=2)
    away = kopek.refused("notifications", "publish", "--nats-url", "nats://127.0.0.1:1", exit_code=75)

    assert (missing["category"], missing["code"]) == ("INVALID", "request_invalid")
    assert (away["category"], away["code"]) == ("TEMPORARY_ILLEGAL_STATE", "notification_broker_unreachable")
    assert kopek.json("notifications", "list")["notifications"][0]["published_at"] is None


def test_accounts_create_sets_the_prepaid_low_balance_threshold(kopek: Kopek) -> None:
    created = kopek.json(
        "accounts", "create", "--id", "erin", "--currency", "EUR", "--prepaid-balance", "5", "--prepaid-low-balance-threshold", "1.50"
    )
    refused = kopek.refused("accounts", "create", "--id", "frank", "--currency", "EUR", "--prepaid-low-balance-threshold", "1", exit_code=2)

    assert kopek.json("accounts", "show", "erin") == created
    assert refused["code"] == "request_invalid"
    assert [account["low_balance_threshold"] for account in created["accounts"]] == ["1.50"]


def test_serve_with_a_nats_url_publishes_what_charging_raised(tmp_path: Path, publishing: PublisherSettings) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with Engine(url) as engine:
        load_catalog_with_topup(engine)
        add_prepaid(engine, "carol", balance="0.80", threshold="0.75")
    port = _free_port()
    environment = {**os.environ, "KOPEK_DATABASE_URL": url, "KOPEK_NATS_URL": publishing.nats_url}
    arguments = ["serve", "--port", str(port), "--publish-interval-seconds", "0.1", *_nats(publishing)[2:]]
    server = subprocess.Popen([sys.executable, "-m", "kopek.cli", *arguments], env=environment, stdout=subprocess.DEVNULL)
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz")
        item = sms("carol")
        body = {
            "item": {
                "item_class": item.item_class,
                "consumption_date": item.consumption_date.isoformat(),
                "service_id": item.service_id,
                "user_id": item.user_id,
                "properties": item.properties,
            }
        }
        assert httpx.post(f"http://127.0.0.1:{port}/v1/charging", json=body, timeout=5).status_code == 201
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while not (arrived := received(publishing, wait_seconds=0.2)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=SERVER_START_SECONDS_MAX)

    assert [(message.subject, message.document["data"]["balance"]) for message in arrived] == [(publishing.subject("low_balance"), "0.70")]

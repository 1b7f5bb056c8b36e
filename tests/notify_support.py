"""Notification tests: a prepaid subscriber with a low balance threshold, and a real JetStream
stream per test with a subscriber (a pull consumer) that reads what arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kopek import AccessInput, ChargeableItem, ContractInput, Engine, SubscriberAccountInput
from kopek.notify.publisher import PublisherSettings
from tests.worlds import AT, START, catalog_document

NATS_URL = "nats://127.0.0.1:4222"
TOPUP_PLAN = {"name": "topup", "currency": "EUR", "account_role": "payer", "min_amount": "0.01"}


def load_catalog_with_topup(engine: Engine) -> None:
    """The world's catalog (voice, sms at 0.10, data) with a refill plan ``topup`` crediting the payer."""
    document = catalog_document()
    engine.load_catalog({**document, "refill_plans": [TOPUP_PLAN]})


def add_prepaid(engine: Engine, holder: str, *, balance: str, threshold: str | None) -> None:
    """Subscriber ``holder`` with prepaid account ``<holder>-prepaid`` paying contract ``<holder>-contract`` (plan mobile)."""
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {
                "id": holder,
                "currency": "EUR",
                "accounts": [
                    {"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": balance, "low_balance_threshold": threshold}
                ],
            }
        )
    )
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": f"{holder}-contract",
                "subscriber_account_id": holder,
                "valid_from": START.isoformat(),
                "items": [{"id": "main", "charge_plan": "mobile"}],
                "roles": {"payer": f"{holder}-prepaid"},
            }
        )
    )
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "mobile", "user_id": f"{holder}-msisdn", "contract_id": f"{holder}-contract", "valid_from": START.isoformat()}
        )
    )


def sms(holder: str, *, at: datetime = AT) -> ChargeableItem:
    """An SMS of ``holder``: 0.10 EUR."""
    return ChargeableItem("sms", at, "mobile", f"{holder}-msisdn", {"destination": "33123"})


def call(holder: str, *, seconds: str, at: datetime = AT) -> ChargeableItem:
    """A call of ``holder`` to 33...: 60 free seconds, then 0.60 EUR a started minute."""
    return ChargeableItem("voice_call", at, "mobile", f"{holder}-msisdn", {"duration": seconds, "destination": "33123"})


@dataclass(frozen=True)
class Received:
    subject: str
    document: dict[str, Any]
    message_id: str | None
    sequence: int


async def _read_all(settings: PublisherSettings, wait_seconds: float) -> list[Received]:
    client = await nats.connect(settings.nats_url, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        jetstream = client.jetstream()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)
        try:
            subscription = await jetstream.pull_subscribe(settings.stream_subjects, stream=settings.stream, config=config)
        except nats.js.errors.NotFoundError:
            return []  # The publisher has not created the stream yet.
        received: list[Received] = []
        while True:
            try:
                batch = await subscription.fetch(100, timeout=wait_seconds)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for message in batch:
                await message.ack()
                headers = message.headers or {}
                document = json.loads(message.data)
                received.append(Received(message.subject, document, headers.get("Nats-Msg-Id"), message.metadata.sequence.stream))
        await subscription.unsubscribe()
        return received
    finally:
        await client.close()


def received(settings: PublisherSettings, *, wait_seconds: float = 0.5) -> list[Received]:
    """Every message the stream holds, read by a fresh pull consumer (deliver all), in stream order; none without the stream."""
    return asyncio.run(_read_all(settings, wait_seconds))


async def _stream_subjects(settings: PublisherSettings) -> list[str] | None:
    client = await nats.connect(settings.nats_url, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        try:
            info = await client.jetstream().stream_info(settings.stream)
        except nats.js.errors.NotFoundError:
            return None
        return list(info.config.subjects or [])
    finally:
        await client.close()


def stream_subjects(settings: PublisherSettings) -> list[str] | None:
    """The subjects the test's stream captures; none while it does not exist."""
    return asyncio.run(_stream_subjects(settings))


async def _add_stream(settings: PublisherSettings, subjects: list[str]) -> None:
    client = await nats.connect(settings.nats_url, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        await client.jetstream().add_stream(name=settings.stream, subjects=subjects)
    finally:
        await client.close()


def add_stream(settings: PublisherSettings, subjects: list[str]) -> None:
    asyncio.run(_add_stream(settings, subjects))


async def _delete_stream(settings: PublisherSettings) -> None:
    client = await nats.connect(settings.nats_url, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await client.jetstream().delete_stream(settings.stream)
    finally:
        await client.close()


@pytest.fixture
def publishing() -> Iterator[PublisherSettings]:
    """Publisher settings on the local NATS with a stream and subject prefix of this test's own; the stream is deleted after."""
    token = uuid.uuid4().hex[:12]
    settings = PublisherSettings(NATS_URL, subject_prefix=f"kopek_test.{token}", stream=f"KOPEK_TEST_{token}", batch_size=2)
    try:
        yield settings
    finally:
        asyncio.run(_delete_stream(settings))

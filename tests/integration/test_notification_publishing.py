"""The outbox published to the local NATS JetStream: a real pull consumer checks what arrives.

Each test has a stream and subject prefix of its own (fixture ``publishing``), deleted after.
"""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.errors import Code, TemporaryIllegalStateError
from kopek.notify.publisher import PublisherSettings, PublishReport
from kopek.store.schema import notifications
from tests.notify_support import add_prepaid, add_stream, call, load_catalog_with_topup, publishing, received, sms, stream_subjects

__all__ = ["publishing"]


@pytest.fixture
def world(engine: Engine) -> Engine:
    """carol: 1.00 EUR prepaid, threshold 0.75; dave: 10.00 EUR."""
    load_catalog_with_topup(engine)
    add_prepaid(engine, "carol", balance="1.00", threshold="0.75")
    add_prepaid(engine, "dave", balance="10.00", threshold=None)
    return engine


def _charge_a_few(engine: Engine) -> None:
    """Three notifications: allowance_exhausted (dave), low_balance (carol), allowance_exhausted (carol)."""
    engine.charge(call("dave", seconds="120"))
    for _ in range(3):
        engine.charge(sms("carol"))
    engine.charge(call("carol", seconds="90"))


def test_the_consumer_receives_exactly_the_stored_notifications_on_their_kinds(world: Engine, publishing: PublisherSettings) -> None:
    _charge_a_few(world)
    stored = world.notifications()

    report = world.publish_notifications(publishing)

    arrived = received(publishing)
    assert report == PublishReport(published=3, duplicates=0)
    assert [message.subject for message in arrived] == [publishing.subject(note.kind.value) for note in stored]
    assert [message.document for message in arrived] == [note.model_dump(mode="json", exclude={"published_at"}) for note in stored]
    assert [message.message_id for message in arrived] == [f"kopek-notification-{note.id}-{note.operation_id}" for note in stored]
    assert arrived[1].document["kind"] == "low_balance"
    assert arrived[1].document["data"]["balance"] == "0.70"
    assert all(note.published_at == world.now() for note in world.notifications())
    assert stream_subjects(publishing) == [publishing.stream_subjects]


def test_publishing_again_sends_nothing_more(world: Engine, publishing: PublisherSettings) -> None:
    _charge_a_few(world)
    world.publish_notifications(publishing)

    again = world.publish_notifications(publishing)

    assert again == PublishReport()
    assert len(received(publishing)) == 3


def test_a_crash_between_acknowledgement_and_mark_is_deduplicated(world: Engine, publishing: PublisherSettings) -> None:
    _charge_a_few(world)
    world.publish_notifications(publishing)
    # The crash: published and acknowledged, but the mark never committed.
    with world.database.begin() as connection:
        connection.execute(sa.update(notifications).values(published_at=None))

    republished = world.publish_notifications(publishing)

    assert republished == PublishReport(published=3, duplicates=3)
    assert [message.document["id"] for message in received(publishing)] == [note.id for note in world.notifications()]
    assert world.notification_outbox().pending(10) == []


def test_later_notifications_follow_in_id_order_across_batches(world: Engine, publishing: PublisherSettings) -> None:
    _charge_a_few(world)
    world.publish_notifications(publishing)
    for holder in ("erin", "frank", "grace", "heidi"):
        add_prepaid(world, holder, balance="0.80", threshold="0.75")
        world.charge(sms(holder))  # 0.70: low_balance

    report = world.publish_notifications(replace(publishing, batch_size=3))

    ids = [message.document["id"] for message in received(publishing)]
    assert report.published == 4
    assert ids == sorted(ids) == [note.id for note in world.notifications()]
    assert len(ids) == 7


def test_an_existing_stream_gains_the_prefix_subjects(world: Engine, publishing: PublisherSettings) -> None:
    add_stream(publishing, ["kopek_test_other.subject"])
    _charge_a_few(world)

    world.publish_notifications(publishing)

    assert stream_subjects(publishing) == ["kopek_test_other.subject", publishing.stream_subjects]
    assert len(received(publishing)) == 3


def test_with_nats_away_publishing_fails_and_the_notifications_stay_in_the_outbox(world: Engine, publishing: PublisherSettings) -> None:
    _charge_a_few(world)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    away = replace(publishing, nats_url=f"nats://127.0.0.1:{port}")

    with pytest.raises(TemporaryIllegalStateError) as refused:
        world.publish_notifications(away)
    report = world.publish_notifications(publishing)

    assert refused.value.code is Code.NOTIFICATION_BROKER_UNREACHABLE
    assert report.published == 3
    assert len(received(publishing)) == 3


def test_nothing_to_publish_does_not_touch_nats(world: Engine) -> None:
    nowhere = PublisherSettings("nats://127.0.0.1:1")

    assert world.publish_notifications(nowhere) == PublishReport()

"""The published form of notifications: every kind documented, stable message ids, checked settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kopek import limits
from kopek.errors import Code, InvalidError
from kopek.notify.documents import DATA_FIELDS, ListedNotification, published_document
from kopek.notify.publisher import PublisherSettings, message_id
from kopek.rating.outcome import NotificationKind

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"

LISTED = ListedNotification(
    id=7,
    kind=NotificationKind.LOW_BALANCE,
    message="low",
    data={"account_id": "a"},
    operation_id="op-1",
    contract_id="c",
    subscriber_account_id="s",
    created_at=datetime(2026, 6, 1, tzinfo=UTC),
    published_at=None,
)


def test_every_kind_has_its_data_documented_in_the_code_and_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")

    assert set(DATA_FIELDS) == set(NotificationKind)
    for kind, fields in DATA_FIELDS.items():
        assert f"`{kind.value}`" in text, kind
        section = text.split(f"### `{kind.value}`", 1)[1].split("###", 1)[0]
        assert all(f"`{key}`" in section for key in fields), kind


def test_the_published_document_is_the_listed_one_without_its_publication_state() -> None:
    document = published_document(LISTED)

    assert document.model_dump() == LISTED.model_dump(exclude={"published_at"})
    assert "published_at" not in document.model_dump_json()


def test_the_message_id_is_stable_and_names_the_notification_and_its_operation() -> None:
    assert message_id(LISTED) == message_id(LISTED.model_copy()) == "kopek-notification-7-op-1"
    assert message_id(LISTED.model_copy(update={"operation_id": None})) == "kopek-notification-7-none"


def test_a_kind_goes_to_its_own_subject_under_the_prefix() -> None:
    settings = PublisherSettings("nats://127.0.0.1:4222")

    assert settings.subject("low_balance") == "kopek.notifications.low_balance"
    assert settings.stream_subjects == "kopek.notifications.>"
    assert settings.stream == "KOPEK_NOTIFICATIONS"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"subject_prefix": "kopek.*"}, Code.REQUEST_INVALID, id="wildcard-prefix"),
        pytest.param({"subject_prefix": "kopek..x"}, Code.REQUEST_INVALID, id="empty-token"),
        pytest.param({"subject_prefix": "a" * (limits.NATS_NAME_CHARS_MAX + 1)}, Code.LIMIT_EXCEEDED, id="prefix-too-long"),
        pytest.param({"stream": "KOPEK.X"}, Code.REQUEST_INVALID, id="dotted-stream"),
        pytest.param({"batch_size": limits.NOTIFICATION_PUBLISH_BATCH_MAX + 1}, Code.LIMIT_EXCEEDED, id="batch-past-the-bound"),
        pytest.param({"batch_size": 0}, Code.LIMIT_EXCEEDED, id="empty-batch"),
        pytest.param({"interval_seconds": 0}, Code.REQUEST_INVALID, id="no-interval"),
    ],
)
def test_publisher_settings_refuse_what_nats_or_the_bounds_refuse(changes: dict[str, object], code: Code) -> None:
    with pytest.raises(InvalidError) as refused:
        PublisherSettings("nats://127.0.0.1:4222", **changes)  # type: ignore[arg-type]

    assert refused.value.code is code


def test_the_largest_batch_is_accepted() -> None:
    assert PublisherSettings("nats://127.0.0.1:4222", batch_size=limits.NOTIFICATION_PUBLISH_BATCH_MAX).batch_size == 1_000

"""A chargeable item's properties are checked and typed against its class before rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rating_support import CONSUMED_AT, load_catalog

from kopek import limits
from kopek.domain.catalog import ItemClass
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.errors import Category, Code, InvalidError

CATALOG = load_catalog("""
    item_classes:
      - name: call
        quantity: duration
        properties:
          - {name: duration, type: decimal, unit: seconds}
          - {name: destination, type: string}
          - {name: network, type: string, default: home, allowed: [home, roaming]}
          - {name: hour, type: integer, default: 12}
          - {name: video, type: boolean, default: false}
          - {name: answered_at, type: datetime, required: false}
          - {name: note, type: string, required: false}
      - name: sms
""")


def call_class() -> ItemClass:
    item_class = CATALOG.item_class("call")
    assert item_class is not None
    return item_class


def type_call(properties: dict[str, object], *, consumed_at: datetime = CONSUMED_AT) -> TypedItem:
    return type_item(call_class(), ChargeableItem("call", consumed_at, "voice", "user-1", properties))


def refusal(properties: dict[str, object]) -> InvalidError:
    with pytest.raises(InvalidError) as raised:
        type_call(properties)
    assert raised.value.category is Category.INVALID
    return raised.value


VALID = {"duration": "90", "destination": "447700900123"}


def test_a_valid_item_is_typed_and_its_defaults_applied() -> None:
    item = type_call(VALID)

    assert dict(item.properties) == {
        "duration": Decimal(90),
        "destination": "447700900123",
        "network": "home",
        "hour": 12,
        "video": False,
    }
    assert item.quantity == Decimal(90)


@pytest.mark.parametrize(
    ("name", "raw", "typed"),
    [
        pytest.param("duration", "12.50", Decimal("12.50"), id="decimal-from-text-keeps-its-digits"),
        pytest.param("duration", 7, Decimal(7), id="decimal-from-integer"),
        pytest.param("duration", Decimal("0.001"), Decimal("0.001"), id="decimal-from-decimal"),
        pytest.param("hour", "7", 7, id="integer-from-text"),
        pytest.param("hour", "7.0", 7, id="integer-from-integral-text"),
        pytest.param("video", "true", True, id="boolean-from-text"),
        pytest.param("video", False, False, id="boolean"),
        pytest.param(
            "answered_at",
            "2024-03-01T12:00:05+01:00",
            datetime(2024, 3, 1, 12, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            id="datetime-from-text",
        ),
        pytest.param("network", "roaming", "roaming", id="allowed-value"),
    ],
)
def test_a_property_is_typed_by_its_class(name: str, raw: object, typed: object) -> None:
    value = type_call({**VALID, name: raw}).properties[name]

    assert value == typed
    assert type(value) is type(typed)


def test_a_missing_optional_property_without_default_stays_absent() -> None:
    assert "note" not in type_call(VALID).properties


def test_a_property_given_as_none_is_missing() -> None:
    assert type_call({**VALID, "network": None}).properties["network"] == "home"


def test_a_missing_required_property_is_refused() -> None:
    error = refusal({"duration": "90"})

    assert error.code is Code.PROPERTY_MISSING
    assert [(detail.location, detail.code) for detail in error.details] == [(("properties", "destination"), Code.PROPERTY_MISSING)]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        pytest.param("duration", "ninety", id="decimal-from-a-word"),
        pytest.param("duration", 90.0, id="decimal-from-a-float"),
        pytest.param("duration", True, id="decimal-from-a-boolean"),
        pytest.param("duration", "NaN", id="decimal-not-a-number"),
        pytest.param("duration", "Infinity", id="decimal-infinite"),
        pytest.param("duration", "1" * (limits.DECIMAL_DIGITS_MAX + 1), id="decimal-with-too-many-digits"),
        pytest.param("duration", "1E+100", id="decimal-with-a-huge-exponent"),
        pytest.param("hour", "7.5", id="integer-with-a-fraction"),
        pytest.param("hour", 7.0, id="integer-from-a-float"),
        pytest.param("destination", 447700900123, id="string-from-a-number"),
        pytest.param("destination", "4" * (limits.PROPERTY_STRING_CHARS_MAX + 1), id="string-too-long"),
        pytest.param("video", "yes", id="boolean-from-yes"),
        pytest.param("video", 1, id="boolean-from-one"),
        pytest.param("answered_at", "yesterday", id="datetime-from-a-word"),
        pytest.param("answered_at", "2024-03-01T12:00:05", id="naive-datetime"),
        pytest.param("answered_at", 1709294405, id="datetime-from-a-number"),
    ],
)
def test_a_mistyped_property_is_refused(name: str, raw: object) -> None:
    error = refusal({**VALID, name: raw})

    assert error.code is Code.PROPERTY_INVALID
    assert [detail.location for detail in error.details] == [("properties", name)]


@pytest.mark.parametrize(
    "duration",
    [pytest.param("9" * limits.DECIMAL_DIGITS_MAX, id="as-many-digits-as-allowed"), pytest.param("1E+37", id="largest-exponent-allowed")],
)
def test_a_number_at_the_digit_limit_is_accepted(duration: str) -> None:
    assert type_call({**VALID, "duration": duration}).quantity == Decimal(duration)


def test_a_value_outside_the_allowed_values_is_refused() -> None:
    error = refusal({**VALID, "network": "satellite"})

    assert error.code is Code.PROPERTY_INVALID
    assert error.message == "property 'network': 'satellite' is not one of ['home', 'roaming']"


def test_an_unknown_property_is_refused() -> None:
    error = refusal({**VALID, "colour": "red"})

    assert error.code is Code.PROPERTY_UNKNOWN
    assert [detail.location for detail in error.details] == [("properties", "colour")]


@pytest.mark.parametrize(
    "duration",
    [pytest.param("-1", id="minus-one"), pytest.param("-0.001", id="just-below-zero")],
)
def test_a_negative_quantity_is_refused(duration: str) -> None:
    assert refusal({**VALID, "duration": duration}).code is Code.QUANTITY_NEGATIVE


def test_a_zero_quantity_is_accepted() -> None:
    assert type_call({**VALID, "duration": "0"}).quantity == 0


def test_a_naive_consumption_date_is_refused() -> None:
    with pytest.raises(InvalidError) as raised:
        type_call(VALID, consumed_at=datetime(2024, 3, 1, 12, 0))

    assert raised.value.code is Code.REQUEST_INVALID
    assert [detail.location for detail in raised.value.details] == [("consumption_date",)]


def test_more_properties_than_the_limit_are_refused() -> None:
    properties = {f"extra_{index}": "x" for index in range(limits.ITEM_PROPERTIES_MAX + 1)}

    assert refusal(properties).code is Code.LIMIT_EXCEEDED


def test_every_property_fault_is_listed_and_the_first_decides_the_code() -> None:
    error = refusal({"duration": "ninety", "colour": "red", "network": "satellite"})

    assert error.code is Code.PROPERTY_UNKNOWN
    assert [(detail.location, detail.code) for detail in error.details] == [
        (("properties", "colour"), Code.PROPERTY_UNKNOWN),
        (("properties", "duration"), Code.PROPERTY_INVALID),
        (("properties", "destination"), Code.PROPERTY_MISSING),
        (("properties", "network"), Code.PROPERTY_INVALID),
    ]


def test_an_item_of_a_class_without_quantity_has_quantity_zero() -> None:
    sms = CATALOG.item_class("sms")
    assert sms is not None

    item = type_item(sms, ChargeableItem("sms", CONSUMED_AT.astimezone(UTC), "sms", "user-1", {}))

    assert item.quantity == Decimal(0)

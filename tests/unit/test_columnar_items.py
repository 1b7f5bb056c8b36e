"""A chunk's CDRs typed column-wise (``typed_columns``) equal ``type_item`` applied CDR after CDR.

For any stored properties text, either both accept every CDR of the chunk and every
column (typed property text, quantity as text and in base units, the request hash) equals what the row path computes from the typed item, or
both refuse, and the refusal reported is ``type_item``'s for the first CDR it refuses.
Values ``type_item`` refuses (floats, exponents where an integer is asked, too many
digits, a negative quantity, unknown or too many properties, a value not allowed, ...)
are among the generated ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from kopek.batch.columnar_items import TYPED_COLUMNS, Untyped, _read_class, typed_columns, typed_rows
from kopek.domain.catalog import Catalog, ItemClass, PropertySpec, PropertyType
from kopek.domain.item import ChargeableItem, type_item
from kopek.domain.units import Unit
from kopek.errors import KopekError

CALL = ItemClass(
    name="call",
    quantity="duration",
    properties=(
        PropertySpec(name="duration", type=PropertyType.DECIMAL, unit=Unit("minutes")),
        PropertySpec(name="destination", type=PropertyType.STRING),
        PropertySpec(name="roaming", type=PropertyType.BOOLEAN, required=False, default=False),
        PropertySpec(name="legs", type=PropertyType.INTEGER, required=False),
        PropertySpec(name="network", type=PropertyType.STRING, required=False, default="4g", allowed=("4g", "5g")),
        PropertySpec(name="fee", type=PropertyType.DECIMAL, required=False),
    ),
)
SMS = ItemClass(name="sms", properties=(PropertySpec(name="count", type=PropertyType.INTEGER, required=False, default=1),))
EVENT = ItemClass(
    name="event",
    quantity="volume",
    properties=(
        PropertySpec(name="volume", type=PropertyType.INTEGER, unit=Unit("bytes")),
        PropertySpec(name="at", type=PropertyType.DATETIME, required=False),
    ),
)
CATALOG = Catalog(item_classes=(CALL, SMS, EVENT))
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
SCHEMA = {
    "id": pl.String,
    "item_class": pl.String,
    "consumption_date": pl.Datetime("us", "UTC"),
    "service_id": pl.String,
    "user_id": pl.String,
    "properties": pl.String,
    "contract_id": pl.String,
}


def cdr(number: int, item_class: str, properties: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    """A pending CDR as the store holds it: the properties as the import writes them (or the given text)."""
    text = properties if isinstance(properties, str) else json.dumps(properties, sort_keys=True, default=str)
    return {
        "id": f"c{number}",
        "item_class": item_class,
        "consumption_date": fields.get("at", AT + timedelta(seconds=number)),
        "service_id": fields.get("service_id", "mobile"),
        "user_id": fields.get("user_id", "33612345678"),
        "properties": text,
        "contract_id": "k1",
    }


def reference(rows: list[dict[str, Any]]) -> list[Any] | str:
    """``type_item`` CDR after CDR: the typed items, or the message of the first refusal."""
    items = []
    for row in rows:
        item_class = CATALOG.item_class(row["item_class"])
        assert item_class is not None
        item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], json.loads(row["properties"]))
        try:
            items.append(type_item(item_class, item))
        except KopekError as error:
            return error.message
    return items


def assert_typed_alike(rows: list[dict[str, Any]]) -> None:
    expected = reference(rows)
    frame = pl.DataFrame(rows, schema=SCHEMA)
    if isinstance(expected, str):
        with pytest.raises(Untyped) as refused:
            typed_columns(CATALOG, frame)
        assert str(refused.value) == expected
        return
    typed = typed_columns(CATALOG, frame)
    by_rows, _ = typed_rows(CATALOG, rows)
    columns = ["row", "id", "contract_id", *TYPED_COLUMNS, *(name for name in by_rows.columns if name.startswith("p:"))]
    assert_frame_equal(typed.select(columns), by_rows.select(columns))
    for name in typed.columns:
        if name.startswith("p:") and name not in by_rows.columns:
            assert typed[name].null_count() == typed.height  # A property no CDR has.


NUMBER_TEXTS = st.sampled_from(
    [
        *("0", "7", "-3", "120", "1.5", "0.50", "-0", "-0.0", "007", "1E+2", "1e3", " 5", "+5", "1_000", "0.000001", "0.0000001"),
        *("NaN", "Infinity", "1" * 18, "1" * 19, "1" * 38, "1" * 39, "0." + "1" * 37, "12345678901234567.5", "true", ""),
    ]
)
RAW_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-5, max_value=5_000),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10, max_value=10_000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    NUMBER_TEXTS,
    st.sampled_from(["4g", "5g", "3g", "33123", "Zürich", 'say "hi"', "back\\slash", "x" * 1024, "x" * 1025, "true", "false", "True"]),
    st.text(max_size=8),
)


FITTING = {
    PropertyType.STRING: st.one_of(st.sampled_from(["4g", "5g", "33123", "44"]), st.text(alphabet="ab 3:,{}", max_size=6)),
    PropertyType.BOOLEAN: st.sampled_from([True, False, "true", "false"]),
    PropertyType.INTEGER: st.one_of(st.integers(min_value=0, max_value=10**20), st.integers(min_value=0, max_value=99).map(str)),
    PropertyType.DECIMAL: st.one_of(
        st.integers(min_value=0, max_value=10**20),
        st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=0, max_value=10**6),
    ),
    PropertyType.DATETIME: st.sampled_from(["2026-06-01T12:00:00+02:00", "2026-06-01T12:00:00Z"]),
}
"""Values of each type that ``type_item`` mostly accepts, so that whole chunks type."""


@st.composite
def chunks(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for number in range(draw(st.integers(min_value=1, max_value=6))):
        item_class = draw(st.sampled_from([CALL, CALL, SMS, EVENT]))
        properties: dict[str, Any] = {}
        for spec in item_class.properties:
            if draw(st.integers(min_value=0, max_value=5)):
                fitting = draw(st.integers(min_value=0, max_value=9)) > 1
                properties[spec.name] = draw(FITTING[spec.type] if fitting else RAW_VALUES)
        if draw(st.integers(min_value=0, max_value=29)) == 0:
            properties["unknown"] = 1
        text: dict[str, Any] | str = properties
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            text = json.dumps(properties, separators=(",", ":"), default=str)
        user = draw(st.sampled_from(["33612345678", "33612345678", "33612345678", 'odd "user"', "usér"]))
        rows.append(cdr(number, item_class.name, text, user_id=user, at=AT + timedelta(microseconds=draw(st.integers(0, 3)))))
    return rows


@settings(max_examples=600, deadline=None, derandomize=True)
@given(chunks())
def test_columnwise_typing_equals_type_item_cdr_after_cdr(rows: list[dict[str, Any]]) -> None:
    assert_typed_alike(rows)


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param({"duration": 120, "destination": "33123"}, id="plain"),
        pytest.param({"duration": "1.5", "destination": "33", "roaming": "true", "legs": "2", "fee": "0.70"}, id="text-numbers"),
        pytest.param({"duration": "0.0000001", "destination": "33"}, id="decimal-whose-str-has-an-exponent"),
        pytest.param({"duration": "-0.0", "destination": "33", "fee": "-0"}, id="negative-zero"),
        pytest.param({"duration": "1E+2", "destination": "33"}, id="exponent"),
        pytest.param({"duration": 1.5, "destination": "33"}, id="float-refused"),
        pytest.param({"duration": -1, "destination": "33"}, id="negative-quantity-refused"),
        pytest.param({"duration": 10**38, "destination": "33"}, id="thirty-nine-digits-refused"),
        pytest.param({"duration": "1" * 19, "destination": "33"}, id="long-quantity-read-one-by-one"),
        pytest.param({"duration": 5, "destination": 33}, id="number-for-a-string-refused"),
        pytest.param({"duration": 5, "destination": "Zürich"}, id="non-ascii-string"),
        pytest.param({"duration": 5, "destination": "33", "legs": "1.0"}, id="integer-as-decimal-text"),
        pytest.param({"duration": 5, "destination": "33", "legs": True}, id="boolean-for-an-integer-refused"),
        pytest.param({"duration": 5, "destination": "33", "network": "3g"}, id="value-not-allowed-refused"),
        pytest.param({"duration": 5, "destination": "33", "roaming": 1}, id="number-for-a-boolean-refused"),
        pytest.param({"duration": 5, "destination": "33", "extra": None}, id="unknown-property-refused"),
        pytest.param({"duration": 5}, id="required-missing-refused"),
        pytest.param({"duration": 5, "destination": None, "legs": None}, id="null-is-absent"),
        pytest.param({"duration": 5, "destination": "33", **{f"x{index}": 1 for index in range(64)}}, id="too-many-properties"),
    ],
)
def test_edge_cases_of_a_call(properties: dict[str, Any]) -> None:
    assert_typed_alike([cdr(1, "call", properties), cdr(2, "sms", {})])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"duration": 1, "destination": "a", "destination": "b"}', id="duplicate-key-last-wins"),
        pytest.param('{"destination":"a","duration":1}', id="compact"),
        pytest.param('{"destination": "a\\u00e9", "duration": 1}', id="escaped"),
        pytest.param('{"destination": "a", "duration": 1.0}', id="float-text"),
    ],
)
def test_edge_cases_of_the_stored_text(text: str) -> None:
    assert_typed_alike([cdr(1, "call", text)])


def test_an_event_with_a_datetime_property_is_typed_one_by_one() -> None:
    assert_typed_alike([cdr(1, "event", {"volume": 100, "at": "2026-06-01T12:00:00+02:00"}), cdr(2, "event", {"volume": "7"})])


def test_the_first_cdr_that_does_not_type_is_the_one_reported() -> None:
    rows = [cdr(1, "call", {"duration": 5, "destination": "33"}), cdr(2, "sms", {"count": 1.5}), cdr(3, "call", {"duration": -1})]
    with pytest.raises(Untyped, match="property 'count'"):
        typed_columns(CATALOG, pl.DataFrame(rows, schema=SCHEMA))


def test_cdrs_as_the_import_writes_them_are_read_column_wise() -> None:
    rows = [
        cdr(1, "call", {"duration": 120, "destination": "33123", "roaming": True, "legs": 2, "fee": Decimal("0.70")}),
        cdr(2, "call", {"duration": Decimal("1.5"), "destination": "44", "network": "5g"}),
    ]
    read, left = _read_class(CALL, pl.DataFrame(rows, schema=SCHEMA).with_columns(row=pl.int_range(pl.len())), ["destination"])
    assert left.is_empty()
    assert read is not None
    assert read["q"].to_list() == [7200, 90]
    assert_typed_alike(rows)

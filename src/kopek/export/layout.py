"""The layout of item files: their kinds, formats, names and columns (docs/item-files.md).

The columns of each kind are fixed here and documented; a change is a change of
the published format. Amounts and quantities are exact decimal text (``"0.60"``),
never binary floats: a Parquet ``decimal128`` needs one scale for the whole
column, and kopek keeps decimals of any scale up to ``DECIMAL_DIGITS_MAX`` digits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]


class ItemFileKind(StrEnum):
    """What a file holds: billable items (amounts, for invoicing), consumption items (usage),
    or the chargeable items that charging was asked to export."""

    BILLABLE = "billable"
    CONSUMPTION = "consumption"
    CHARGEABLE = "chargeable"


class ItemFileFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


FILE_ID_DIGITS: Final = 10
"""File names carry the file id zero-padded, so name order is id order."""

_INSTANT = pa.timestamp("us", tz="UTC")

CHARGED_ITEM_COLUMNS: Final = pa.schema(
    [
        pa.field("charged_item_id", pa.int64(), nullable=False),
        pa.field("operation_id", pa.string(), nullable=False),
        pa.field("subscriber_account_id", pa.string(), nullable=False),
        pa.field("contract_id", pa.string(), nullable=False),
        pa.field("contract_item_id", pa.string(), nullable=False),
        pa.field("item_class", pa.string(), nullable=False),
        pa.field("charge_plan", pa.string(), nullable=False),
        pa.field("charge", pa.string(), nullable=False),
        pa.field("account_role", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("amount", pa.string(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("quantity", pa.string(), nullable=False),
        pa.field("quantity_unit", pa.string(), nullable=True),
        pa.field("output", pa.string(), nullable=False),
        pa.field("consumption_date", _INSTANT, nullable=False),
        pa.field("recharge_id", pa.string(), nullable=True),
        pa.field("reverses_charged_item_id", pa.int64(), nullable=True),
    ]
)
"""The columns of billable and consumption files (one schema for both). A recharge's correction rows name it in
``recharge_id``; a reversal also names the charged item it takes back (docs/recharging.md)."""

CHARGEABLE_ITEM_COLUMNS: Final = pa.schema(
    [
        pa.field("chargeable_item_id", pa.int64(), nullable=False),
        pa.field("operation_id", pa.string(), nullable=False),
        pa.field("item_class", pa.string(), nullable=False),
        pa.field("consumption_date", _INSTANT, nullable=False),
        pa.field("service_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("properties", pa.string(), nullable=False),
        pa.field("created_at", _INSTANT, nullable=False),
    ]
)
"""The columns of chargeable files; ``properties`` is a JSON object (decimals as strings)."""


def columns_of(kind: ItemFileKind) -> pa.Schema:
    return CHARGEABLE_ITEM_COLUMNS if kind is ItemFileKind.CHARGEABLE else CHARGED_ITEM_COLUMNS


def file_name(kind: ItemFileKind, file_id: int, file_format: ItemFileFormat) -> str:
    """``billable-0000000012.parquet``: kind, zero-padded file id, format."""
    return f"{kind.value}-{file_id:0{FILE_ID_DIGITS}d}.{file_format.value}"


def manifest_name(data_file_name: str) -> str:
    """``_billable-0000000012.manifest.json`` beside ``billable-0000000012.parquet``.

    The leading underscore marks it as metadata, as readers that open a whole folder
    (pyarrow datasets, pandas, Spark) expect: they skip it and read only the data files."""
    stem = data_file_name.rsplit(".", 1)[0]
    return f"_{stem}.manifest.json"


def chargeable_item_row(record: dict[str, Any]) -> dict[str, Any]:
    """A stored chargeable item (kept as JSON by offline charging) as one file row."""
    item = json.loads(record["item"])
    return {
        "chargeable_item_id": record["id"],
        "operation_id": record["operation_id"],
        "item_class": item["item_class"],
        "consumption_date": datetime.fromisoformat(item["consumption_date"]).astimezone(UTC),
        "service_id": item["service_id"],
        "user_id": item["user_id"],
        "properties": json.dumps(item["properties"], sort_keys=True, ensure_ascii=False),
        "created_at": record["created_at"].astimezone(UTC),
    }

"""Reading CDR files (CSV, Parquet, JSON lines) row by row, never the whole file at once.

Every format yields ``(line, record)`` pairs: ``line`` is the 1-based data row (the
line of the file for CSV and JSON lines, the row number for Parquet), ``record``
the row as a mapping, or a :class:`KopekError` when the row cannot even be read.
CSV and Parquet rows carry the fixed columns (``id``, ``item_class``,
``consumption_date``, ``service_id``, ``user_id``) and one column per property;
an empty CSV cell means the property is absent. JSON lines carry the same fields
with the properties in a ``properties`` object.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from kopek.errors import Code, InvalidError, KopekError

CDR_FIELDS = ("id", "item_class", "consumption_date", "service_id", "user_id")
PARQUET_ROWS_PER_BATCH = 4_096

Row = tuple[int, dict[str, Any] | KopekError]


class CdrFileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSON_LINES = "jsonl"


def file_format(path: Path) -> CdrFileFormat:
    """The format a file's extension names (``.csv``, ``.parquet``, ``.jsonl`` / ``.ndjson``)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return CdrFileFormat.CSV
    if suffix in {".parquet", ".pq"}:
        return CdrFileFormat.PARQUET
    if suffix in {".jsonl", ".ndjson"}:
        return CdrFileFormat.JSON_LINES
    raise InvalidError(
        code=Code.CDR_FILE_FORMAT_UNKNOWN, message=f"{path.name}: give a .csv, .parquet or .jsonl file, not {suffix or 'no extension'!r}"
    )


def read_cdr_file(path: Path) -> Iterator[Row]:
    """The rows of a CDR file, streamed."""
    chosen = file_format(path)
    if chosen is CdrFileFormat.CSV:
        return _csv_rows(path)
    if chosen is CdrFileFormat.PARQUET:
        return _parquet_rows(path)
    return _json_rows(path)


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8", errors="replace") as read:
        reader = csv.DictReader(read)
        for record in reader:
            line = reader.line_num
            if None in record:
                yield line, InvalidError(code=Code.CDR_INVALID, message=f"line {line}: more cells than header columns")
                continue
            yield line, _flat_record({key: value for key, value in record.items() if value not in (None, "")})


def _json_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as read:
        for line, raw in enumerate(read, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw, parse_float=Decimal)
            except (ValueError, UnicodeDecodeError) as error:
                yield line, InvalidError(code=Code.CDR_INVALID, message=f"line {line}: not JSON ({error})")
                continue
            if not isinstance(record, dict):
                yield line, InvalidError(code=Code.CDR_INVALID, message=f"line {line}: a CDR is a JSON object")
                continue
            yield line, record


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow  # type: ignore[import-untyped]  # Loaded only for Parquet files.
    import pyarrow.parquet as parquet  # type: ignore[import-untyped]

    try:
        opened = parquet.ParquetFile(path)
    except pyarrow.ArrowException as error:
        raise InvalidError(code=Code.CDR_INVALID, message=f"{path.name}: not a readable Parquet file ({error})") from error
    line = 0
    for batch in opened.iter_batches(batch_size=PARQUET_ROWS_PER_BATCH):
        for record in batch.to_pylist():
            line += 1
            yield line, _flat_record({key: _plain(value) for key, value in record.items() if value is not None})


def _flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A flat row (fixed columns plus one column per property) as a CDR record."""
    fixed = {key: record[key] for key in CDR_FIELDS if key in record}
    return fixed | {"properties": {key: value for key, value in record.items() if key not in CDR_FIELDS}}


def _plain(value: object) -> object:
    """A Parquet cell as kopek reads input: exact decimals as strings, dates in ISO 8601, never a binary float."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return str(value)
    return value

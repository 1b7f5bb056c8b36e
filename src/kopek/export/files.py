"""Writing one item file and its manifest so that a reader never sees half of either.

Each is written under a hidden temporary name in its final folder, flushed to
disk (fsync), then renamed over the final name, and the folder itself is flushed.
A crash leaves at worst a stray ``.*.tmp`` file, which no reader's ``*.parquet``
or ``*.csv`` pattern matches. The same rows always give the same bytes, so
writing a file again after a crash gives the file the first attempt would have.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from kopek.export.layout import ItemFileFormat

PARQUET_COMPRESSION: Final = "zstd"
_HASH_CHUNK_BYTES: Final = 1_048_576


def write_data_file(path: Path, columns: pa.Schema, pages: Iterable[pa.Table], file_format: ItemFileFormat) -> str:
    """Write the pages (tables of ``columns``; one row group each) to ``path`` atomically; returns the file's
    SHA-256 in hex."""
    temporary = _temporary_name(path)
    try:
        if file_format is ItemFileFormat.PARQUET:
            with pq.ParquetWriter(temporary, columns, compression=PARQUET_COMPRESSION) as parquet:
                for page in pages:
                    parquet.write_table(page)
        else:
            with pa_csv.CSVWriter(temporary, columns) as csv:
                for page in pages:
                    csv.write_table(page)
        digest = sha256_of(temporary)
        _flush(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _flush_folder(path.parent)
    return digest


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest (JSON, keys sorted) to ``path`` atomically."""
    temporary = _temporary_name(path)
    try:
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _flush(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _flush_folder(path.parent)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def remove_stray_temporaries(path: Path) -> None:
    """Remove what an interrupted writing of ``path`` left behind."""
    for stray in path.parent.glob(f".{path.name}.*.tmp"):
        stray.unlink(missing_ok=True)


def _temporary_name(path: Path) -> Path:
    # Unique per attempt, so two exports finishing the same file never write into one temporary file.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _flush_folder(folder: Path) -> None:
    # A rename is durable once the folder's entry is on disk.
    _flush(folder)

"""Importing CDRs into the CDR store, row by row, with a report of the refused rows.

A row is checked for its shape only (fields, identifiers, a consumption date with a
time zone, at most ``ITEM_PROPERTIES_MAX`` properties); its class and properties are
checked against the catalog when a rating job charges it. Rows are written in steps
of ``CDR_IMPORT_ROWS_PER_STEP``, one commit each. A refused row (malformed, or an id
already stored or repeated in the file) is reported with its line and the import goes
on; with ``strict`` the first refused row stops the import and nothing is committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.admin.master_data import AwareDatetime
from kopek.batch.cdr_files import Row
from kopek.clock import Clock
from kopek.domain.validation import invalid_input
from kopek.errors import AlreadyExistsError, Category, Code, KopekError
from kopek.store.uow import UnitOfWork

Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER_CHARS_MAX)]


class CdrInput(BaseModel):
    """One CDR as imported: a chargeable item with its own id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    item_class: Identifier
    consumption_date: AwareDatetime
    service_id: Identifier
    user_id: Identifier
    properties: dict[Annotated[str, Field(max_length=limits.PROPERTY_NAME_CHARS_MAX)], Any] = Field(
        default_factory=dict, max_length=limits.ITEM_PROPERTIES_MAX
    )


class ImportFault(BaseModel):
    """One precise fault of a refused row: where (a path into the row) and what."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"message": "Input should have timezone info", "location": ["consumption_date"], "code": "timezone_aware"}]
        },
        use_attribute_docstrings=True,
    )

    message: str
    """What is wrong there."""
    location: list[str | int]
    """Path into the row, e.g. ``["properties", "duration"]``."""
    code: str | None
    """A kopek code or the validator's fault type."""


class ImportFailure(BaseModel):
    """A refused row: its line (1-based data row), its id when readable, the error."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "line": 3,
                    "cdr_id": "cdr-0003",
                    "category": "INVALID",
                    "code": "cdr_invalid",
                    "message": "line 3 has 1 fault(s)",
                    "details": [{"message": "Input should have timezone info", "location": ["consumption_date"], "code": "timezone_aware"}],
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    line: int
    """The 1-based line (or position) of the input it concerns."""
    cdr_id: str | None
    """The refused CDR's id, when readable."""
    category: Category
    """The error category."""
    code: Code
    """The stable error code (see docs/errors.md)."""
    message: str
    """For people; may change between versions."""
    details: list[ImportFault] = Field(default_factory=list)
    """Each fault of a malformed row: its field and what is wrong (empty for a refusal with no detail, e.g. a duplicate)."""


class ImportReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows_read": 3,
                    "cdrs_imported": 2,
                    "rows_refused": 1,
                    "failures": [
                        {
                            "line": 3,
                            "cdr_id": "cdr-0003",
                            "category": "INVALID",
                            "code": "cdr_invalid",
                            "message": "line 3 has 1 fault(s)",
                            "details": [
                                {"message": "Input should have timezone info", "location": ["consumption_date"], "code": "timezone_aware"}
                            ],
                        }
                    ],
                    "failures_truncated": False,
                }
            ]
        },
        use_attribute_docstrings=True,
    )

    rows_read: int = 0
    """Rows read from the input."""
    cdrs_imported: int = 0
    """CDRs stored as pending."""
    rows_refused: int = 0
    """Rows refused (each listed up to a bound)."""
    failures: list[ImportFailure] = Field(default_factory=list)
    """The refused rows with their errors."""
    failures_truncated: bool = False
    """True when more failures happened than are listed."""

    def refuse(self, line: int, cdr_id: str | None, error: KopekError) -> None:
        self.rows_refused += 1
        if len(self.failures) < limits.CDR_IMPORT_FAILURES_REPORTED_MAX:
            faults = [ImportFault(message=d.message, location=list(d.location), code=d.code) for d in error.details]
            failure = ImportFailure(
                line=line, cdr_id=cdr_id, category=error.category, code=error.code, message=error.message, details=faults
            )
            self.failures.append(failure)
        else:
            self.failures_truncated = True


_Refused = tuple[int, KopekError, str | None]


@dataclass(frozen=True, slots=True)
class _Checked:
    line: int
    cdr: CdrInput


def import_cdrs(engine: sa.Engine, rows: Iterable[Row], *, clock: Clock, strict: bool = False) -> ImportReport:
    """Store the CDRs of ``rows``; see the module docstring. With ``strict`` raises the first refusal."""
    report = ImportReport()
    if strict:
        with UnitOfWork(engine) as uow:
            for step in _steps(rows, report):
                _write_step(uow, step, report, clock(), strict=True)
            uow.commit()
        return report
    for step in _steps(rows, report):
        with UnitOfWork(engine) as uow:
            _write_step(uow, step, report, clock(), strict=False)
            uow.commit()
    return report


def _steps(rows: Iterable[Row], report: ImportReport) -> Iterator[list[_Checked | _Refused]]:
    step: list[_Checked | _Refused] = []
    for line, record in rows:
        report.rows_read += 1
        step.append(_check(line, record))
        if len(step) == limits.CDR_IMPORT_ROWS_PER_STEP:
            yield step
            step = []
    if step:
        yield step


def _check(line: int, record: dict[str, Any] | KopekError) -> _Checked | _Refused:
    if isinstance(record, KopekError):
        return line, record, None
    try:
        return _Checked(line, CdrInput.model_validate(record))
    except pydantic.ValidationError as error:
        cdr_id = record.get("id")
        return line, invalid_input(error, code=Code.CDR_INVALID, what=f"line {line}"), cdr_id if isinstance(cdr_id, str) else None


def _write_step(uow: UnitOfWork, step: list[_Checked | _Refused], report: ImportReport, now: datetime, *, strict: bool) -> None:
    existing = uow.cdrs.existing_ids([entry.cdr.id for entry in step if isinstance(entry, _Checked)])
    rows: list[dict[str, Any]] = []
    for entry in step:
        if not isinstance(entry, _Checked):
            line, error, cdr_id = entry
            _refuse(report, line, cdr_id, error, strict=strict)
            continue
        if entry.cdr.id in existing:
            error = AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"line {entry.line}: CDR {entry.cdr.id!r} is already stored")
            _refuse(report, entry.line, entry.cdr.id, error, strict=strict)
            continue
        existing.add(entry.cdr.id)
        rows.append(_row(entry.cdr, now))
    uow.cdrs.insert(rows)
    report.cdrs_imported += len(rows)


def _refuse(report: ImportReport, line: int, cdr_id: str | None, error: KopekError, *, strict: bool) -> None:
    if strict:
        raise error.restated(f"the strict import stopped at line {line}, nothing was stored: the CDR there was refused") from error
    report.refuse(line, cdr_id, error)


def _row(cdr: CdrInput, now: datetime) -> dict[str, Any]:
    return {
        "id": cdr.id,
        "item_class": cdr.item_class,
        "consumption_date": cdr.consumption_date,
        "service_id": cdr.service_id,
        "user_id": cdr.user_id,
        "properties": json.dumps(cdr.properties, sort_keys=True, default=str),
        "imported_at": now,
    }

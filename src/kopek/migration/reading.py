"""Reading a contract states file: its lines as parsed states (or the fault of each
unreadable line), ``CONTRACT_STATES_BATCH_MAX`` at a time, so that memory holds one batch
whatever the size of the file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pydantic

from kopek import limits
from kopek.domain.validation import invalid_input
from kopek.errors import Code, ErrorDetail, InvalidError, KopekError
from kopek.migration.state import ContractState

Parsed = tuple[int, ContractState | None, str | None, KopekError | None]
"""A line number, its state when valid, else the contract id found (if any) and the fault."""


def parse_line(number: int, line: str) -> Parsed:
    """One line of a contract states file as a state, or the fault that refuses it."""
    if len(line) > limits.CONTRACT_STATE_LINE_CHARS_MAX:
        fault = InvalidError(
            code=Code.CONTRACT_STATE_INVALID, message=f"line {number} is longer than {limits.CONTRACT_STATE_LINE_CHARS_MAX} characters"
        )
        return number, None, None, fault
    try:
        return number, ContractState.model_validate_json(line), None, None
    except pydantic.ValidationError as error:
        fault = invalid_input(error, code=Code.CONTRACT_STATE_INVALID, what=f"the contract state on line {number}")
        spelled = "; ".join(_spelled(detail) for detail in fault.details[:3])
        fault = InvalidError(code=fault.code, message=f"{fault.message}: {spelled}", details=fault.details)
        return number, None, _contract_id_of(line), fault


def batches(lines: Iterable[str]) -> Iterator[list[Parsed]]:
    """The non-blank lines parsed, ``CONTRACT_STATES_BATCH_MAX`` at a time."""
    batch: list[Parsed] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        batch.append(parse_line(number, line))
        if len(batch) == limits.CONTRACT_STATES_BATCH_MAX:
            yield batch
            batch = []
    if batch:
        yield batch


def _spelled(detail: ErrorDetail) -> str:
    where = ".".join(map(str, detail.location))
    return f"{where}: {detail.message}" if where else detail.message


def _contract_id_of(line: str) -> str | None:
    try:
        document: Any = json.loads(line)
    except ValueError:
        return None
    found = document.get("contract_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None

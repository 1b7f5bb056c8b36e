"""The logs of ``kopek serve``: plain text, or one JSON object per line (``--log-format json``).

:func:`logging_config` is the ``logging.config.dictConfig`` every server worker applies (Granian
applies it in each worker process before the app is built). In JSON, each line holds ``time``,
``level``, ``logger`` and ``message``, the fields a request's line carries (``request_id``,
``method``, ``route``, ``operation``, ``status``, ``outcome``, ``duration_ms``) and an error's
``exception`` when there is one.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

REQUEST_FIELDS: Final = ("request_id", "method", "route", "operation", "status", "outcome", "duration_ms")
"""The fields of a request's log line (see :mod:`kopek.api.observing`)."""


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``[level] logger: message``, and ``request_id=...`` when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"[{record.levelname}] {record.name}: {record.getMessage()}"
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            text += f" request_id={request_id}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The logging of one server worker: Granian's own logger and kopek's, in one format, to standard error."""
    formatter = {"()": f"{__name__}.{'JsonFormatter' if log_format is LogFormat.JSON else 'TextFormatter'}"}
    handler = {"class": "logging.StreamHandler", "formatter": "kopek", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["kopek"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kopek": formatter},
        "handlers": {"kopek": handler},
        "loggers": {"_granian": logger, "granian.access": logger, "kopek": logger},
    }

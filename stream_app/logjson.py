"""JSON-lines logs for the worker (`STREAM_APP_LOG_FORMAT=json`), for log shippers.

Each record becomes one JSON object with the time, level, logger and message,
plus the structured fields an agent passed in `extra` (event name, topic,
partition, offset, stage, reason, router), so an error can be found by its
offset without parsing the message text. Faust's own logging set-up is kept;
only its formatters are replaced (see `logging_config`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

FIELDS = ("event_name", "topic", "partition", "offset", "stage", "reason", "router")


class JsonFormatter(logging.Formatter):
    """One JSON object per log record."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                body[name] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


def logging_config(log_format: str) -> dict[str, Any] | None:
    """Faust's `logging_config` for a log format (None keeps Faust's default text logs)."""
    if log_format != "json":
        return None
    formatter = {"()": f"{__name__}.JsonFormatter"}
    # `merge` keeps Faust's handlers and levels and swaps both of its formatters for ours.
    return {"merge": True, "formatters": {"default": formatter, "colored": formatter}}

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


def log_fields(event_name: str | None, topic: str | None, partition: int | None, offset: int | None,
               **more: Any) -> dict[str, Any]:
    """The structured fields of a log line about one record, for `extra=` (every error about a record has them)."""
    return {"event_name": event_name, "topic": topic, "partition": partition, "offset": offset, **more}


def event_name_of(raw: bytes | str | None) -> str | None:
    """The name of a tracking event given as JSON, for the log line of an error about it; None if unreadable."""
    try:
        event = orjson.loads(raw or b"")
        name = event.get("name") or event.get("event_type")
    except Exception:  # noqa: BLE001 — only called while reporting another error
        return None
    return name if isinstance(name, str) else None


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

"""The dead-letter record: what failed, where, why, and the original bytes, as one JSON object.

Every agent's error boundary and the delivery chain write this shape to the
dead-letter topic, so `stream-app dead-letter` and the alert agent read one
format. The original value travels base64-encoded (exact bytes) and, when it
is UTF-8, also as text for people reading the topic.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson


def now_iso() -> str:
    """UTC now, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def record(
    stage: str,
    reason: str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
    event_name: str | None = None,
    **extra: Any,
) -> bytes:
    """Encode one dead-letter record."""
    text: str | None = None
    if value is not None:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    body: dict[str, Any] = {
        "stage": stage,
        "reason": reason,
        "event_name": event_name,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "original": text,
        "original_b64": base64.b64encode(value).decode("ascii") if value is not None else None,
        "time": now_iso(),
    }
    body.update(extra)
    return orjson.dumps(body)


def original_bytes(dead: dict[str, Any]) -> bytes | None:
    """The exact original value of a decoded dead-letter record."""
    encoded = dead.get("original_b64")
    return base64.b64decode(encoded) if encoded else None

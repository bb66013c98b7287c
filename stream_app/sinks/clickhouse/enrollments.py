"""Debezium records of `student_courseenrollment` (a CDC table the sink alone reads), and change times.

Decoding goes through `stream_app.tables.cdc.decode`, so every envelope form the
worker accepts (envelope, `{schema, payload}`, ExtractNewRecordState, tombstone)
works here too. `change_ms` reads the change's time — Debezium's `ts_ms`, else
the source's `ts_ms`, else the flattened `__ts_ms`/`__source_ts_ms` — which the
row builders turn into Aspects' `time_last_dumped`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stream_app.errors import TransformError
from stream_app.tables.cdc import decode

ENROLLMENT_TABLE = "student_courseenrollment"
_COLUMNS = ("id", "user_id", "course_id", "created", "is_active", "mode")


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """One enrollment change: `row` holds the enrollment's columns, or None when it was deleted."""

    enrollment_id: str
    row: dict[str, Any] | None


def change_ms(value: Any) -> int | None:
    """The change time in epoch milliseconds carried by a Debezium value, if any."""
    if isinstance(value, (bytes, str)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if isinstance(value, dict) and "payload" in value and set(value) <= {"schema", "payload"}:
        value = value["payload"]
    if not isinstance(value, dict):
        return None
    source = value.get("source")
    for candidate in (value.get("ts_ms"), source.get("ts_ms") if isinstance(source, dict) else None,
                      value.get("__ts_ms"), value.get("__source_ts_ms")):
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
    return None


def decode_enrollment(key: Any, value: Any) -> EnrollmentChange | None:
    """Decode one `student_courseenrollment` record; None for records that change nothing."""
    change = decode(key, value, ENROLLMENT_TABLE)
    if change is None:
        return None
    row = change.row or {}
    enrollment_id = row.get("id", change.key)
    if enrollment_id is None or isinstance(enrollment_id, (dict, list)):
        raise TransformError("invalid_cdc", "missing_key:id")
    if change.op == "delete":
        return EnrollmentChange(str(enrollment_id), None)
    missing = [c for c in ("user_id", "course_id") if row.get(c) is None]
    if missing:
        raise TransformError("invalid_cdc", f"missing_field:{missing[0]}")
    return EnrollmentChange(str(enrollment_id), {c: row.get(c) for c in _COLUMNS} | {"id": enrollment_id})

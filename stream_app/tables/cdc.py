"""Decode Debezium change events in every form a connector may emit.

Accepted values: the envelope `{before, after, op, ts_ms, source}`; the same
wrapped as `{schema, payload}` by the JSON converter; a row flattened by
ExtractNewRecordState, with `__deleted` (`"true"`/`true`) marking deletes; and
`null`, a tombstone, which deletes the row named by the key. Keys may be a
bare value, a `{column: value}` struct, or the same wrapped in `{schema, payload}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from stream_app.errors import TransformError

Op = Literal["upsert", "delete"]
_OPS = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}


@dataclass(frozen=True, slots=True)
class Change:
    """One row change: an upsert carries the new row; a delete carries the old row if known."""

    op: Op
    row: dict[str, Any] | None
    key: Any


def _unwrap(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise TransformError("invalid_json") from exc
    if isinstance(value, dict) and "payload" in value and set(value) <= {"schema", "payload"}:
        return value["payload"]
    return value


def decode_key(key: Any) -> Any:
    """The primary-key value: a single-column struct collapses to its value."""
    key = _unwrap(key) if key is not None else None
    if isinstance(key, dict) and len(key) == 1:
        return next(iter(key.values()))
    return key


def _truthy(flag: Any) -> bool:
    return flag is True or (isinstance(flag, str) and flag.lower() == "true")


def decode(key: Any, value: Any) -> Change | None:
    """Decode one CDC record into a Change; None for records that change nothing (e.g. `op: t`)."""
    k = decode_key(key)
    if value is None:
        return Change("delete", None, k)
    payload = _unwrap(value)
    if payload is None:
        return Change("delete", None, k)
    if not isinstance(payload, dict):
        raise TransformError("invalid_cdc", "not_an_object")
    if "op" in payload and ("after" in payload or "before" in payload):
        op = _OPS.get(str(payload["op"]))
        if op is None:
            return None  # truncate and message records carry no row
        if op == "delete":
            before = payload.get("before")
            return Change("delete", before if isinstance(before, dict) else None, k)
        after = payload.get("after")
        if not isinstance(after, dict):
            raise TransformError("invalid_cdc", "missing_after")
        return Change("upsert", after, k)
    # Flattened by ExtractNewRecordState.
    if _truthy(payload.get("__deleted")) or payload.get("__op") == "d":
        return Change("delete", payload, k)
    return Change("upsert", payload, k)

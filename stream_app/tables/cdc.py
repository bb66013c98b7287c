"""Decode Debezium change events in every form a connector may emit.

Accepted values: the envelope `{before, after, op, ts_ms, source}` (snapshot
reads `op: r` are upserts like creates); the same wrapped as `{schema, payload}`
by the JSON converter with `schemas.enable=true`; a row flattened by
ExtractNewRecordState, with `__deleted` (`"true"`/`true`) or `__op: d` marking
deletes (bare or schema-wrapped); and `null`, a tombstone, which deletes the row
named by the key. Keys may be a bare value, a `{column: value}` struct, or the
same wrapped in `{schema, payload}`. Given the source table, the row's column
values are decoded from Debezium's encodings (µs/ms times, 0/1 flags, DECIMALs,
char(32) UUIDs; see `debezium.py`), using the record's field schemas when it
carries them, so a Debezium row is stored exactly as the same row written as a
JSON seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from stream_app.errors import TransformError
from stream_app.tables.debezium import decode_row, field_schemas

Op = Literal["upsert", "delete"]
_OPS = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}


@dataclass(frozen=True, slots=True)
class Change:
    """One row change: an upsert carries the new row; a delete carries the old row if known."""

    op: Op
    row: dict[str, Any] | None
    key: Any


def _wrapped(value: Any) -> tuple[Any, Any]:
    """(payload, schema) of a record value or key; schema None when the converter sent none."""
    if isinstance(value, (bytes, str)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise TransformError("invalid_json") from exc
    if isinstance(value, dict) and "payload" in value and set(value) <= {"schema", "payload"}:
        return value["payload"], value.get("schema")
    return value, None


def _unwrap(value: Any) -> Any:
    return _wrapped(value)[0]


def _row(table: str | None, row: dict[str, Any], schema: Any) -> dict[str, Any]:
    return row if table is None else decode_row(table, row, field_schemas(schema))


def _envelope_field(schema: Any, name: str) -> Any:
    """The schema of one envelope field (`before`, `after`): itself a struct of the row's columns."""
    fields = schema.get("fields") if isinstance(schema, dict) else None
    for field in fields if isinstance(fields, list) else ():
        if isinstance(field, dict) and field.get("field") == name:
            return field
    return None


def decode_key(key: Any) -> Any:
    """The primary-key value: a single-column struct collapses to its value."""
    key = _unwrap(key) if key is not None else None
    if isinstance(key, dict) and len(key) == 1:
        return next(iter(key.values()))
    return key


def _truthy(flag: Any) -> bool:
    return flag is True or (isinstance(flag, str) and flag.lower() == "true")


def decode(key: Any, value: Any, table: str | None = None) -> Change | None:
    """Decode one CDC record into a Change; None for records that change nothing (e.g. `op: t`).

    With `table` (the source table), the row's values are decoded from Debezium's encodings.
    """
    k = decode_key(key)
    if value is None:
        return Change("delete", None, k)
    payload, schema = _wrapped(value)
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
            row = _row(table, before, _envelope_field(schema, "before")) if isinstance(before, dict) else None
            return Change("delete", row, k)
        after = payload.get("after")
        if not isinstance(after, dict):
            raise TransformError("invalid_cdc", "missing_after")
        return Change("upsert", _row(table, after, _envelope_field(schema, "after")), k)
    # Flattened by ExtractNewRecordState (its `__` fields, e.g. `__deleted`, `__op`, are kept as they are).
    columns = {name: v for name, v in payload.items() if not name.startswith("__")}
    row = {**payload, **_row(table, columns, schema)}
    if _truthy(payload.get("__deleted")) or payload.get("__op") == "d":
        return Change("delete", row, k)
    return Change("upsert", row, k)

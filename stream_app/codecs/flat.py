"""A fast Avro body encoder for flat records: fields of type string, long, or a union of null and one of those.

The output records are exactly that shape, and encoding them needs no schema
walk: a string is its UTF-8 length as a zig-zag varint followed by the bytes,
a long is a zig-zag varint, a `["null", T]` union is the branch index (0 or 1,
itself a varint) followed by the value. `for_schema` returns None for any other
schema, so callers keep the generic serialiser for it. Errors match the generic
serialiser's in kind: a missing or mistyped field raises, it is never written
as something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _varint(value: int) -> bytes:
    # Zig-zag maps signed to unsigned (0, -1, 1, -2 … → 0, 1, 2, 3 …), then 7 bits per byte, low first.
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f"{value} does not fit an Avro long")
    n = (value << 1) ^ (value >> 63)
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Small lengths are by far the most common: look them up instead of computing them.
_SMALL = [_varint(i) for i in range(4096)]


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    data = value.encode("utf-8")
    size = len(data)
    return (_SMALL[size] if size < 4096 else _varint(size)) + data


def _long(value: Any) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return _SMALL[value] if 0 <= value < 4096 else _varint(value)


def _nullable(write: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        return b"\x00" if value is None else b"\x02" + write(value)

    return encode


_ABSENT = object()
_PRIMITIVES: dict[str, Callable[[Any], bytes]] = {"string": _string, "long": _long}


def _writer(field_type: Any) -> Callable[[Any], bytes] | None:
    if isinstance(field_type, dict):
        # Logical types (timestamp-micros) keep their primitive's encoding.
        field_type = field_type.get("type")
    if isinstance(field_type, str):
        return _PRIMITIVES.get(field_type)
    if isinstance(field_type, list) and len(field_type) == 2 and field_type[0] == "null":
        inner = _PRIMITIVES.get(field_type[1]) if isinstance(field_type[1], str) else None
        return _nullable(inner) if inner is not None else None
    return None


class FlatRecordEncoder:
    """Encodes the Avro body (no wire prefix) of records of one flat schema."""

    def __init__(self, fields: list[tuple[str, Callable[[Any], bytes], bool]]) -> None:
        self._fields = fields

    @classmethod
    def for_schema(cls, schema: str) -> FlatRecordEncoder | None:
        """An encoder for a flat record schema, or None if the schema is not flat."""
        parsed = json.loads(schema)
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            return None
        fields = []
        for field in parsed.get("fields", []):
            write = _writer(field.get("type"))
            if write is None:
                return None
            # A field absent from the record may take its declared default only when that is null.
            fields.append((field["name"], write, "default" in field and field["default"] is None))
        return cls(fields)

    def encode(self, record: dict[str, Any]) -> bytes:
        """The Avro binary body of one record."""
        parts: list[bytes] = []
        append = parts.append
        small = _SMALL
        for name, kind, nullable_default in self._fields:
            value = record.get(name, _ABSENT)
            # Strings dominate: they are written inline rather than through a call per field.
            if kind is _string and value.__class__ is str:
                data = value.encode("utf-8")
                size = len(data)
                append(small[size] if size < 4096 else _varint(size))
                append(data)
            elif value is _ABSENT:
                if not nullable_default:
                    raise ValueError(f"record has no field {name!r}")
                append(b"\x00")
            else:
                append(kind(value))
        return b"".join(parts)

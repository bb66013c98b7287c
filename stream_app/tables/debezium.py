"""Column values as Debezium's MySQL connector encodes them, decoded into the values our JSON seeds carry.

A row is decoded column by column. When the record carries its schema (JSON
converter with `schemas.enable=true`), each field schema's semantic `name`
says how the value is encoded (`io.debezium.time.MicroTimestamp`: µs since the
epoch; `io.debezium.time.Timestamp` and Connect's `Timestamp`: ms;
`io.debezium.time.ZonedTimestamp`: ISO text; `org.apache.kafka.connect.data.Decimal`:
base64 of the unscaled big-endian two's-complement integer, `scale` in the
schema parameters). Without a schema the declared column types of `columns.py`
say what a column is, and the value's JSON type says how it was encoded: a
DECIMAL arrives as a number (`decimal.handling.mode=double`), as text with a
decimal point (`string`; Java's plain form keeps the scale, so a scale > 0
always shows the point) or as base64 (`precise`; the base64 alphabet has no
point). A schemaless time integer is read as ms below 10^14 and as µs above:
both `time.precision.mode`s are then right for every time after March 1973.

The decoded forms are those of our seeds, so a Debezium row and the same row
written as a seed are stored alike: UUIDs as Django's `UUIDField` gives them
(`str(uuid.UUID(...))`: dashed, lower case; ERB writes that into
`actor.account.name`); times as ISO 8601 UTC text (`2024-01-01T00:00:00+00:00`,
with `.ffffff` when there are microseconds); dates as `YYYY-MM-DD`; flags as
booleans; DECIMALs as JSON numbers. A value that cannot be decoded is an
`invalid_cdc` error naming the column (the record is dead-lettered).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from stream_app.errors import TransformError
from stream_app.tables.columns import Column, column

FieldSchemas = Mapping[str, Mapping[str, Any]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Semantic type name -> (kind, units per second) for the integer time encodings.
_TIMES = {
    "io.debezium.time.MicroTimestamp": 1_000_000,
    "io.debezium.time.Timestamp": 1_000,
    "io.debezium.time.NanoTimestamp": 1_000_000_000,
    "org.apache.kafka.connect.data.Timestamp": 1_000,
}
_DATES = ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date")
_DECIMAL = "org.apache.kafka.connect.data.Decimal"
_ZONED = "io.debezium.time.ZonedTimestamp"


def _bad(name: str) -> TransformError:
    return TransformError("invalid_cdc", f"invalid_value:{name}")


def iso_time(moment: datetime) -> str:
    """The seed form of a time: ISO 8601 in UTC (a naive time is UTC, as Django stores it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _from_units(value: int, per_second: int) -> str:
    seconds, rest = divmod(value, per_second)
    return iso_time(_EPOCH + timedelta(seconds=seconds, microseconds=rest * 1_000_000 // per_second))


def _time(value: Any, name: str, per_second: int | None) -> Any:
    if isinstance(value, bool):
        raise _bad(name)
    if isinstance(value, int):
        if per_second is None:  # no schema: ms or µs by magnitude (see the module docstring)
            per_second = 1_000 if abs(value) < 10**14 else 1_000_000
        try:
            return _from_units(value, per_second)
        except OverflowError:
            raise _bad(name) from None
    if value == "":
        return value  # no time (hand-written seeds); Debezium itself writes null
    if isinstance(value, str):
        try:
            return iso_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise _bad(name) from None
    raise _bad(name)


def _date(value: Any, name: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (date(1970, 1, 1) + timedelta(days=value)).isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _bad(name) from None
    raise _bad(name)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("0", "1", "true", "false"):
        return value.lower() in ("1", "true")
    raise _bad(name)


def _number(amount: Decimal, scale: int) -> int | float:
    return int(amount) if scale <= 0 else float(amount)


def _decimal(value: Any, name: str, scale: int, precise: bool | None) -> Any:
    """A DECIMAL in any `decimal.handling.mode`; `precise` None = tell by the value (no schema)."""
    if isinstance(value, bool):
        raise _bad(name)
    if isinstance(value, (int, float)):  # double
        return _number(Decimal(str(value)), scale)
    if not isinstance(value, str):
        raise _bad(name)
    if precise is None:
        precise = "." not in value and not (scale <= 0 and value.lstrip("-").isdigit())
    try:
        if precise:
            unscaled = int.from_bytes(base64.b64decode(value, validate=True), "big", signed=True)
            return _number(Decimal(unscaled).scaleb(-scale), scale)
        return _number(Decimal(value), scale)  # string
    except (binascii.Error, ValueError, InvalidOperation):
        raise _bad(name) from None


def _uuid(value: Any) -> Any:
    # Django's UUIDField reads char(32) hex (MySQL) or a dashed native uuid (MariaDB) as uuid.UUID;
    # text that is no UUID (possible in hand-written seeds only) is kept as it is.
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return value
    return value


def decode_value(table: str, name: str, value: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """One column value in its seed form (see the module docstring)."""
    if value is None:
        return None
    declared: Column | None = column(table, name)
    semantic = schema.get("name") if schema else None
    if semantic in _TIMES:
        return _time(value, name, _TIMES[str(semantic)])
    if semantic == _ZONED:
        return _time(value, name, None)
    if semantic in _DATES:
        return _date(value, name)
    if semantic == _DECIMAL:
        params = (schema or {}).get("parameters") or {}
        try:
            scale = int(params.get("scale", declared.scale if declared else 0))
        except (TypeError, ValueError):
            raise _bad(name) from None
        return _decimal(value, name, scale, precise=True)
    if declared is None:
        return value
    if declared.kind == "uuid":
        return _uuid(value)
    if declared.kind == "bool":
        return _flag(value, name)
    if declared.kind == "datetime":
        return _time(value, name, None)
    if declared.kind == "date":
        return _date(value, name)
    # A DECIMAL without its semantic name: `double` (a number) or `string` (text) mode.
    return _decimal(value, name, declared.scale, precise=False if schema else None)


def decode_row(table: str, row: Mapping[str, Any], schemas: FieldSchemas | None = None) -> dict[str, Any]:
    """A row with every column in its seed form; `schemas` maps column names to their field schemas."""
    schemas = schemas or {}
    return {name: decode_value(table, name, value, schemas.get(name)) for name, value in row.items()}


def field_schemas(struct: Any) -> dict[str, Mapping[str, Any]]:
    """Column name -> field schema of a Connect struct schema (`{"type": "struct", "fields": [...]}`)."""
    if not isinstance(struct, Mapping) or not isinstance(struct.get("fields"), list):
        return {}
    return {f["field"]: f for f in struct["fields"] if isinstance(f, Mapping) and isinstance(f.get("field"), str)}

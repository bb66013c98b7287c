"""A test-side Debezium MySQL connector: change records as Debezium 2.x writes them, from Python row values.

Built from Debezium's documented MySQL formats and edx-platform's column types,
never from our seed format: rows are given as Python values (`datetime`, `bool`,
`Decimal`, `uuid.UUID`) and encoded by each column's MySQL type (`COLUMNS`, from
edx-platform's models and migrations; Django's MySQL backend makes a
`DateTimeField` `datetime(6)`, a `BooleanField` `tinyint(1)`, a `UUIDField`
`char(32)`). Encodings follow the connector options: `time.precision.mode`
(`adaptive_time_microseconds`: `datetime(6)` as `io.debezium.time.MicroTimestamp`
µs, `datetime` as `io.debezium.time.Timestamp` ms; `connect`: Connect's
`Timestamp`, ms), `timestamp` columns as `ZonedTimestamp` text, `tinyint(1)` as
INT16 0/1 (or boolean with `TinyIntOneToBooleanConverter`),
`decimal.handling.mode` (`precise`: base64 of the unscaled big-endian two's
complement integer, `scale` in the schema parameters; `double`; `string`), the
JSON converter with or without `schemas.enable`, and ExtractNewRecordState
(`delete.handling.mode=rewrite`, `add.fields=op,source.ts_ms`, tombstones kept).
Records come out as `{"topic", "key", "value"}` with `<topic.prefix>.<db>.<table>` topics.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAD = "longtext"

# MySQL column types of the tables the worker reads (the columns the tests use; edx-platform's names).
COLUMNS: dict[str, dict[str, str]] = {
    "auth_user": {"id": "int", "password": "varchar(128)", "last_login": "datetime(6)?",
                  "is_superuser": "tinyint(1)", "username": "varchar(150)", "first_name": "varchar(150)",
                  "last_name": "varchar(150)", "email": "varchar(254)", "is_staff": "tinyint(1)",
                  "is_active": "tinyint(1)", "date_joined": "datetime(6)"},
    "auth_userprofile": {"id": "int", "user_id": "int", "name": "varchar(255)", "meta": _PAD,
                         "courseware": "varchar(255)", "language": "varchar(255)", "location": "varchar(255)",
                         "year_of_birth": "int?", "gender": "varchar(6)?", "level_of_education": "varchar(6)?",
                         "mailing_address": "longtext?", "city": "longtext?", "country": "varchar(2)?",
                         "goals": "longtext?", "allow_certificate": "tinyint(1)", "bio": "varchar(3000)?",
                         "profile_image_uploaded_at": "datetime(6)?", "phone_number": "varchar(50)?",
                         "state": "varchar(2)?"},
    "external_user_ids_externalid": {"id": "int", "created": "datetime(6)", "modified": "datetime(6)",
                                     "external_user_id": "char(32)", "external_id_type_id": "int",
                                     "user_id": "int"},
    "external_user_ids_externalidtype": {"id": "int", "created": "datetime(6)", "modified": "datetime(6)",
                                         "name": "varchar(32)", "description": _PAD},
    "course_overviews_courseoverview": {
        "created": "datetime(6)", "modified": "datetime(6)", "version": "int", "id": "varchar(255)",
        "_location": "varchar(255)", "display_name": "longtext?", "display_number_with_default": _PAD,
        "display_org_with_default": _PAD, "start": "datetime(6)?", "end": "datetime(6)?",
        "advertised_start": "longtext?", "lowest_passing_grade": "decimal(5,2)?", "days_early_for_beta": "double?",
        "mobile_available": "tinyint(1)", "invitation_only": "tinyint(1)", "enrollment_start": "datetime(6)?",
        "enrollment_end": "datetime(6)?", "max_student_enrollments_allowed": "int?", "announcement": "datetime(6)?",
        "effort": "longtext?", "org": _PAD, "self_paced": "tinyint(1)", "language": "longtext?",
        "entrance_exam_enabled": "tinyint(1)", "enable_proctored_exams": "tinyint(1)",
        "external_id": "varchar(128)?"},
    "student_courseenrollment": {"id": "int", "course_id": "varchar(255)", "created": "datetime(6)?",
                                 "is_active": "tinyint(1)", "mode": "varchar(100)", "user_id": "int"},
    "teams_courseteam": {"id": "int", "team_id": "varchar(255)", "name": "varchar(255)",
                         "course_id": "varchar(255)", "topic_id": "varchar(255)", "date_created": "datetime(6)",
                         "description": "varchar(300)", "country": "varchar(2)", "language": "varchar(16)",
                         "discussion_topic_id": "varchar(255)", "last_activity_at": "datetime(6)",
                         "team_size": "int", "organization_protected": "tinyint(1)"},
}
KEYS = {table: "id" for table in COLUMNS}


def unscaled_bytes(value: Decimal, scale: int) -> bytes:
    """Java's `BigInteger.toByteArray()` of the unscaled value: minimal big-endian two's complement."""
    unscaled = int(value.scaleb(scale))
    bits = unscaled.bit_length() if unscaled >= 0 else (-unscaled - 1).bit_length()
    return unscaled.to_bytes(bits // 8 + 1, "big", signed=True)


@dataclass
class Connector:
    """Encodes rows and changes of one Debezium MySQL connector configuration."""

    prefix: str = "lms"
    database: str = "openedx"
    schemas: bool = False
    flatten: bool = False
    time_mode: str = "adaptive_time_microseconds"
    decimal_mode: str = "precise"
    tinyint_boolean: bool = False
    clock_ms: int = 1_764_547_200_000
    position: int = 154
    records: list[dict[str, Any]] = field(default_factory=list)

    def topic(self, table: str) -> str:
        return f"{self.prefix}.{self.database}.{table}"

    # -- values --------------------------------------------------------------------------------
    def _type(self, table: str, column: str) -> tuple[str, bool]:
        declared = COLUMNS[table][column]  # a column the table does not have is a test mistake
        return declared.rstrip("?"), declared.endswith("?")

    def encode(self, table: str, column: str, value: Any) -> Any:
        """One column value as the connector writes it into JSON."""
        mysql, _ = self._type(table, column)
        if value is None:
            return None
        if mysql == "tinyint(1)":
            return bool(value) if self.tinyint_boolean else int(bool(value))
        if mysql.startswith("datetime"):
            micros = (value - EPOCH) // timedelta(microseconds=1)
            return micros if mysql == "datetime(6)" and self.time_mode != "connect" else micros // 1000
        if mysql.startswith("timestamp"):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if mysql.startswith("decimal"):
            scale = int(mysql.split(",")[1].rstrip(")"))
            if self.decimal_mode == "double":
                return float(value)
            if self.decimal_mode == "string":
                return str(Decimal(value).quantize(Decimal(1).scaleb(-scale)))
            return base64.b64encode(unscaled_bytes(Decimal(value), scale)).decode()
        if mysql == "char(32)" and isinstance(value, uuid.UUID):
            return value.hex  # Django's UUIDField on MySQL: 32 hex digits, no dashes
        return value

    def field_schema(self, table: str, column: str) -> dict[str, Any]:
        """The Connect field schema the connector gives a column (type, optional, semantic name)."""
        mysql, optional = self._type(table, column)
        out: dict[str, Any] = {"type": "string", "optional": optional, "field": column}
        if mysql == "int":
            out["type"] = "int32"
        elif mysql == "double":
            out["type"] = "double"
        elif mysql == "tinyint(1)":
            out["type"] = "boolean" if self.tinyint_boolean else "int16"
        elif mysql.startswith("datetime"):
            name = ("org.apache.kafka.connect.data.Timestamp" if self.time_mode == "connect"
                    else "io.debezium.time.MicroTimestamp" if mysql == "datetime(6)" else "io.debezium.time.Timestamp")
            out.update(type="int64", name=name, version=1)
        elif mysql.startswith("timestamp"):
            out.update(name="io.debezium.time.ZonedTimestamp", version=1)
        elif mysql.startswith("decimal"):
            precision, scale = mysql[len("decimal("):-1].split(",")
            if self.decimal_mode == "double":
                out["type"] = "double"
            elif self.decimal_mode == "precise":
                out.update(type="bytes", name="org.apache.kafka.connect.data.Decimal", version=1,
                           parameters={"scale": scale, "connect.decimal.precision": precision})
        return out

    def _row(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        return {column: self.encode(table, column, value) for column, value in row.items()}

    def _row_schema(self, table: str, columns: list[str], optional: bool, name: str = "Value") -> dict[str, Any]:
        return {"type": "struct", "fields": [self.field_schema(table, c) for c in columns], "optional": optional,
                "name": f"{self.topic(table)}.{name}"}

    # -- records -------------------------------------------------------------------------------
    def _key(self, table: str, row: dict[str, Any]) -> Any:
        column = KEYS[table]
        payload = {column: self.encode(table, column, row[column])}
        if not self.schemas:
            return payload
        return {"schema": self._row_schema(table, [column], False, "Key"), "payload": payload}

    def _source(self, table: str, snapshot: str) -> dict[str, Any]:
        self.position += 211
        return {"version": "2.7.3.Final", "connector": "mysql", "name": self.prefix, "ts_ms": self.clock_ms,
                "snapshot": snapshot, "db": self.database, "sequence": None, "table": table,
                "server_id": 0 if snapshot != "false" else 223344, "gtid": None, "file": "mysql-bin.000003",
                "pos": self.position, "row": 0, "thread": None if snapshot != "false" else 12, "query": None}

    def _source_schema(self) -> dict[str, Any]:
        def f(column: str, type_: str, optional: bool = False, **extra: Any) -> dict[str, Any]:
            return {"type": type_, "optional": optional, "field": column, **extra}

        return {"type": "struct", "optional": False, "name": "io.debezium.connector.mysql.Source", "field": "source",
                "fields": [f("version", "string"), f("connector", "string"), f("name", "string"),
                           f("ts_ms", "int64"),
                           f("snapshot", "string", True, name="io.debezium.data.Enum", version=1, default="false",
                             parameters={"allowed": "true,first,first_in_data_collection,"
                                                    "last_in_data_collection,last,false,incremental"}),
                           f("db", "string"), f("sequence", "string", True), f("table", "string", True),
                           f("server_id", "int64"), f("gtid", "string", True), f("file", "string"),
                           f("pos", "int64"), f("row", "int32"), f("thread", "int64", True),
                           f("query", "string", True)]}

    def _value(self, table: str, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
               snapshot: str) -> Any:
        self.clock_ms += 7
        if self.flatten:
            row = before if op == "d" else after
            assert row is not None
            payload = {**self._row(table, row), "__op": op, "__source_ts_ms": self.clock_ms,
                       "__deleted": "true" if op == "d" else "false"}
            if not self.schemas:
                return payload
            schema = self._row_schema(table, list(row), False)
            schema["fields"] += [{"type": "string", "optional": True, "field": "__op"},
                                 {"type": "int64", "optional": True, "field": "__source_ts_ms"},
                                 {"type": "string", "optional": True, "field": "__deleted"}]
            return {"schema": schema, "payload": payload}
        payload = {"before": None if before is None else self._row(table, before),
                   "after": None if after is None else self._row(table, after),
                   "source": self._source(table, snapshot), "op": op, "ts_ms": self.clock_ms + 3,
                   "transaction": None}
        if not self.schemas:
            return payload
        columns = list(after or before or {})
        value_schema = self._row_schema(table, columns, True)
        schema = {"type": "struct", "optional": False, "name": f"{self.topic(table)}.Envelope", "version": 1,
                  "fields": [{**value_schema, "field": "before"}, {**value_schema, "field": "after"},
                             self._source_schema(), {"type": "string", "optional": False, "field": "op"},
                             {"type": "int64", "optional": True, "field": "ts_ms"},
                             {"type": "struct", "optional": True, "field": "transaction",
                              "name": "event.block", "version": 1,
                              "fields": [{"type": "string", "optional": False, "field": "id"},
                                         {"type": "int64", "optional": False, "field": "total_order"},
                                         {"type": "int64", "optional": False, "field": "data_collection_order"}]}]}
        return {"schema": schema, "payload": payload}

    def _emit(self, table: str, key: Any, value: Any) -> dict[str, Any]:
        record = {"topic": self.topic(table), "key": key, "value": value}
        self.records.append(record)
        return record

    def snapshot(self, rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """The initial snapshot: `op: r` reads, `source.snapshot` first, true..., last."""
        out = []
        for i, (table, row) in enumerate(rows):
            flag = "first" if i == 0 else "last" if i == len(rows) - 1 else "true"
            out.append(self._emit(table, self._key(table, row), self._value(table, "r", None, row, flag)))
        return out

    def create(self, table: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._emit(table, self._key(table, row), self._value(table, "c", None, row, "false"))]

    def update(self, table: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
        """An update with the full before image (`binlog_row_image=FULL`)."""
        return [self._emit(table, self._key(table, after), self._value(table, "u", before, after, "false"))]

    def delete(self, table: str, before: dict[str, Any]) -> list[dict[str, Any]]:
        """A delete (with its before image), then the tombstone (`tombstones.on.delete=true`)."""
        key = self._key(table, before)
        return [self._emit(table, key, self._value(table, "d", before, None, "false")),
                self._emit(table, key, None)]

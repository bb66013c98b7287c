"""Where `stream-app clickhouse dump` reads the data we hold: a CDC seed file or the worker's changelogs.

A source answers `items(table)` for the logical tables the dump needs — `users`
(our user records), `ext_types` (external-id type names), `courses`, `blocks`,
`enrollments` (student_courseenrollment rows) and `profiles` (raw profile rows,
only a CDC file has them) — with the *last* live value per key. Each item also
carries the change time (for `time_last_dumped`) and a position — a monotonic
`mark` within a named `space` — so a later dump can skip what it already sent.

- `CdcFileSource`: the `{topic, key, value}` JSONL records `stream-app transform --cdc`
  reads, applied in order with the worker's own rules. Position: Debezium's `ts_ms`.
- `ChangelogSource`: the Faust tables' changelog topics (`{app_id}-{table}-changelog`,
  JSON keys and values) and the enrollment CDC topic, read from the beginning with
  confluent-kafka up to each partition's end. Position: the record offset per partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from stream_app.errors import StreamAppError, TransformError
from stream_app.sinks.clickhouse.enrollments import ENROLLMENT_TABLE, change_ms, decode_enrollment
from stream_app.tables.cdc import decode
from stream_app.tables.dimensions import TABLES as DIMENSION_TABLES
from stream_app.tables.dimensions import (
    USER_TABLES,
    DimensionStores,
    block_row,
    course_row,
    is_deleted,
    table_of,
    user_key_of,
)

LOGICAL_TABLES = ("users", "ext_types", "courses", "blocks", "enrollments", "profiles")
# Block columns a CDC producer may add beyond our block record (see rows.py on block order).
_BLOCK_EXTRAS = ("order", "edited_on", "completion_mode", "tags")


@dataclass(frozen=True, slots=True)
class Item:
    """The last value of one key, with its change time and position."""

    key: str
    value: Any
    changed_ms: int | None
    space: str
    mark: int | None


class Source(Protocol):
    """A pluggable iterator of the records a dump sends."""

    def items(self, table: str) -> Iterator[Item]:
        """The live items of a logical table (see LOGICAL_TABLES), any order."""
        ...


class SourceError(StreamAppError, RuntimeError):
    """The source cannot be read (a malformed seed line, a missing topic)."""


def _later(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class CdcFileSource:
    """A CDC seed file, applied in order (last write wins, deletes remove)."""

    SPACE = "cdc:ts_ms"

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self._stores = DimensionStores()
        self._tables: dict[str, dict[str, tuple[Any, int | None]]] = {t: {} for t in LOGICAL_TABLES}
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("topic"), str):
                raise TransformError("invalid_cdc", "record_shape")
            self._apply(table_of(record["topic"]), record.get("key"), record.get("value"))

    @classmethod
    def from_path(cls, path: str | Path) -> CdcFileSource:
        """Read a JSONL seed; a bad line raises SourceError with its line number."""
        records = []
        with open(path, "rb") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    try:
                        records.append(orjson.loads(line))
                    except orjson.JSONDecodeError as exc:
                        raise SourceError(f"{path}:{number}: invalid JSON ({exc})") from None
        try:
            return cls(records)
        except TransformError as exc:
            raise SourceError(f"{path}: bad CDC record ({exc})") from exc

    def _put(self, table: str, key: str, value: Any, ts: int | None) -> None:
        if value is None:
            self._tables[table].pop(key, None)
        else:
            previous = self._tables[table].get(key)
            self._tables[table][key] = (value, _later(previous[1] if previous else None, ts))

    def _apply(self, table: str, key: Any, value: Any) -> None:
        ts = change_ms(value)
        if table == ENROLLMENT_TABLE:
            enrollment = decode_enrollment(key, value)
            if enrollment is not None:
                self._put("enrollments", enrollment.enrollment_id, enrollment.row, ts)
            return
        if table not in DIMENSION_TABLES:
            return  # topics the dump does not use (a seed may carry others)
        change = decode(key, value, table)
        if change is None:
            return
        self._stores.apply(table, change)
        if table in USER_TABLES:
            user_id = user_key_of(table, change)
            if user_id is None:
                return
            stored = self._stores.users.get(user_id)
            self._put("users", user_id, stored, ts)
            if is_deleted(stored):  # the user's personal data goes with it; late child rows stay out
                self._put("profiles", user_id, None, ts)
            elif table == "auth_userprofile":
                self._put("profiles", user_id, None if change.op == "delete" else change.row, ts)
        elif table == "external_user_ids_externalidtype":
            type_id = str(change.key if change.row is None else change.row.get("id", change.key))
            self._put("ext_types", type_id, self._stores.ext_types.get(type_id), ts)
        elif table == "course_overviews_courseoverview":
            course_id, row = course_row(change)
            self._put("courses", course_id, None if row is None else {**(change.row or {}), **row}, ts)
        elif table == "course_blocks":
            usage_key, block = block_row(change)
            extras = {k: (change.row or {})[k] for k in _BLOCK_EXTRAS if k in (change.row or {})}
            self._put("blocks", usage_key, None if block is None else {**extras, **block}, ts)

    def items(self, table: str) -> Iterator[Item]:
        for key, (value, ts) in self._tables[table].items():
            yield Item(key, value, ts, self.SPACE, ts)


# -- Faust changelogs ------------------------------------------------------------------------------
_CHANGELOGS = {"users": "users", "ext_types": "external_id_types", "courses": "courses", "blocks": "blocks"}


def changelog_topic(app_id: str, table: str) -> str:
    """Faust's changelog topic of a table."""
    return f"{app_id}-{table}-changelog"


def read_latest(config: dict[str, Any], topic: str, timeout: float = 30.0) -> dict[bytes, tuple[bytes | None, int,
                                                                                                int, int]]:
    """Every partition of `topic` from the beginning to its current end: key -> (value, timestamp ms,
    partition, offset) of the last record. The end is the broker's end-of-partition signal rather than
    a watermark read first, so a broker reporting short watermarks (Tansu) cannot cut the read."""
    consumer = Consumer({**config, "group.id": f"stream-app-dump-{uuid.uuid4()}", "enable.auto.commit": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    latest: dict[bytes, tuple[bytes | None, int, int, int]] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise SourceError(f"topic {topic} not found")
        pending = set(metadata.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        idle = 0.0
        while pending:
            message = consumer.poll(1.0)
            if message is None:
                idle += 1.0
                if idle > timeout:
                    raise SourceError(f"topic {topic}: no data or end of partition within {timeout:.0f} s")
                continue
            idle = 0.0
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise SourceError(f"topic {topic}: {error}")
            key = message.key() or b""
            latest[key] = (message.value(), message.timestamp()[1], message.partition() or 0, message.offset() or 0)
    finally:
        consumer.close()
    return latest


class ChangelogSource:
    """The worker's tables, read from their changelog topics (and enrollments from their CDC topic)."""

    def __init__(self, bootstrap: str, app_id: str, enrollment_topic: str = "openedx.cdc.student_courseenrollment",
                 config: dict[str, Any] | None = None) -> None:
        self.config = {"bootstrap.servers": bootstrap, **(config or {})}
        self.app_id = app_id
        self.enrollment_topic = enrollment_topic

    def items(self, table: str) -> Iterator[Item]:
        if table == "profiles":
            return  # the users table keeps only the name of the profile
        if table == "enrollments":
            for raw_key, (value, ts, partition, offset) in read_latest(self.config, self.enrollment_topic).items():
                enrollment = decode_enrollment(raw_key or None, value)
                if enrollment is not None and enrollment.row is not None:
                    yield Item(enrollment.enrollment_id, enrollment.row, change_ms(value) or ts,
                               f"{self.enrollment_topic}:{partition}", offset)
            return
        topic = changelog_topic(self.app_id, _CHANGELOGS[table])
        for raw_key, (value, ts, partition, offset) in read_latest(self.config, topic).items():
            if value is None:
                continue  # a tombstone: the entry was deleted
            key = orjson.loads(raw_key) if raw_key else ""
            yield Item(str(key), orjson.loads(value), ts, f"{topic}:{partition}", offset)

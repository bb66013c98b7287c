"""Backfill Aspects' event-sink tables from the data we hold, like Aspects' `dump_data_to_clickhouse`.

`dump()` reads one object's records from a `Source`, builds rows, and inserts
them in batches (optionally sleeping between batches to spare a busy server).
Without `force` it sends only what changed since the last dump: the dump-state
table (`event_sink.stream_app_dump_state`: object, position space, high mark)
remembers, per source position space (a changelog partition, or CDC `ts_ms`),
the highest position already sent; items at or below it are skipped. Items with
no position are always sent. A course's blocks go together, and go again when
any of them changed, because a block's order depends on its siblings. The state
advances only after every batch was inserted: an interrupted dump is redone,
which is safe since rows are deterministic and collapse in ClickHouse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from stream_app.sinks.clickhouse.rows import (
    Row,
    RowError,
    changed_at,
    course_block_rows,
    course_enrollment_row,
    course_overview_row,
    external_id_rows,
    rows_by_course,
    user_profile_row,
)
from stream_app.sinks.clickhouse.sink import ClickHouseSink
from stream_app.sinks.clickhouse.sources import Item, Source
from stream_app.tables.dimensions import user_record

DUMP_OBJECTS = ("course_overviews", "course_blocks", "user_profile", "external_id", "course_enrollment")


@dataclass
class DumpResult:
    """What a dump did: rows inserted, records skipped as unchanged, records rejected by reason."""

    rows: int = 0
    records: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


def load_marks(sink: ClickHouseSink, object_name: str) -> dict[str, int]:
    """The highest position already dumped, per position space."""
    rows = sink.query(f"SELECT space, mark FROM {sink.table('dump_state')} FINAL WHERE object = '{object_name}'")
    return {str(r["space"]): int(r["mark"]) for r in rows}


def save_marks(sink: ClickHouseSink, object_name: str, marks: dict[str, int]) -> None:
    """Record the positions a completed dump reached."""
    now = datetime.now(UTC)
    stamp = f"{int(now.timestamp())}.{now.microsecond:06d}"
    sink.client.insert(sink.table("dump_state"), [{"object": object_name, "space": space, "mark": mark,
                                                   "dumped_at": stamp} for space, mark in marks.items()])


def _one(build: Callable[..., Row], *args: Any) -> list[Row]:
    return [build(*args)]


def _records(source: Source, object_name: str, namespace: uuid.UUID | None
             ) -> Iterator[tuple[list[Item], Callable[[], list[Row]]]]:
    """(the items a group of rows comes from, a builder of those rows) per record or course."""
    if object_name == "course_overviews":
        for item in source.items("courses"):
            yield [item], partial(_one, course_overview_row, item.key, item.value, changed_at(item.changed_ms))
    elif object_name == "course_blocks":
        items = {item.key: item for item in source.items("blocks")}
        orgs = {item.key: item.value.get("org") for item in source.items("courses")}
        for course_id, blocks in rows_by_course((k, i.value) for k, i in items.items()).items():
            group = [items[k] for k in blocks]
            latest = max((i.changed_ms for i in group if i.changed_ms is not None), default=None)
            yield group, partial(course_block_rows, course_id, blocks, changed_at(latest), orgs.get(course_id))
    elif object_name in ("user_profile", "external_id"):
        ext_types = {item.key: item.value for item in source.items("ext_types")}
        profiles = {item.key: item.value for item in source.items("profiles")} if object_name == "user_profile" else {}
        for item in source.items("users"):
            user = user_record(ext_types, item.value, namespace)
            if user is None:
                continue  # an id seen only in profile or external-id rows: not a known user yet
            changed = changed_at(item.changed_ms)
            if object_name == "user_profile":
                # A seed file's raw profile row, else the profile columns the users table keeps.
                profile = profiles.get(item.key) or item.value.get("profile")
                yield [item], partial(_one, user_profile_row, user, changed, profile)
            else:
                yield [item], partial(external_id_rows, user, changed)
    elif object_name == "course_enrollment":
        usernames = {item.key: item.value.get("username") for item in source.items("users")}
        for item in source.items("enrollments"):
            name = usernames.get(str(item.value.get("user_id")))
            yield [item], partial(_one, course_enrollment_row, item.value, changed_at(item.changed_ms), name)
    else:
        raise ValueError(f"unknown object {object_name!r}; choose from {', '.join(DUMP_OBJECTS)}")


def dump(sink: ClickHouseSink, source: Source, object_name: str, *, force: bool = False, batch_size: int = 10_000,
         sleep: float = 0.0, namespace: uuid.UUID | None = None,
         progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda it: it) -> DumpResult:
    """Send one object's rows; `namespace` gives users without an external id their generated one."""
    if object_name not in DUMP_OBJECTS:
        raise ValueError(f"unknown object {object_name!r}; choose from {', '.join(DUMP_OBJECTS)}")
    if object_name not in sink.router.objects:
        sink.insert(object_name, [])  # raises ObjectNotEnabled with the router's reason
    marks = {} if force else load_marks(sink, object_name)
    reached: dict[str, int] = {}
    result = DumpResult()
    batch: list[Row] = []

    def flush() -> None:
        if batch:
            sink.insert(object_name, batch)
            result.rows += len(batch)
            batch.clear()
            if sleep > 0:
                time.sleep(sleep)

    for items, build in progress(_records(source, object_name, namespace)):
        result.records += 1
        for item in items:
            if item.mark is not None:
                reached[item.space] = max(reached.get(item.space, item.mark), item.mark)
        if not any(item.mark is None or item.mark > marks.get(item.space, -1) for item in items):
            result.unchanged += 1
            continue
        try:
            batch.extend(build())
        except RowError as exc:
            result.rejected[str(exc)] = result.rejected.get(str(exc), 0) + 1
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    if reached:
        save_marks(sink, object_name, {space: max(mark, marks.get(space, mark)) for space, mark in reached.items()})
    return result

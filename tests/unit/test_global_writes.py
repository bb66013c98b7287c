"""A global-table write goes to the changelog only, and the local store's offset follows what it read back.

Faust's `Table.send_changelog` records each sent record's offset in the local store as applied,
true of Faust's own writes (local first), false of `put_global`'s (applied only when read back).
With that callback a rebalance or restart between the send and the read-back resumed the changelog
past records the worker never applied: one of two workers lost its `external_id_types` and held
every event it enriched.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from stream_app.tables import stream


class Delivered:
    """`send_soon` of a changelog topic whose broker stores each record at once, at offset 41."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)
        callback = kwargs.get("callback")
        if callback is not None:  # what the producer does once the record is stored
            metadata = SimpleNamespace(topic_partition=TP("stream_app-courses-changelog", 0), offset=41)
            callback(SimpleNamespace(result=lambda: metadata))


@pytest.fixture
def courses(monkeypatch: pytest.MonkeyPatch) -> tuple[Delivered, list[tuple[TP, int]]]:
    delivered, persisted = Delivered(), []
    monkeypatch.setattr(stream.courses.changelog_topic, "send_soon", delivered)
    monkeypatch.setattr(stream.courses.data, "set_persisted_offset", lambda tp, offset: persisted.append((tp, offset)))
    return delivered, persisted


def test_a_global_write_is_sent_keyed_and_leaves_the_stored_offset_alone(courses: Any) -> None:
    delivered, persisted = courses
    stream.put_global(stream.courses, "course-v1:edX+DemoX+Demo", {"display_name": "Demo", "org": "edX"})
    [record] = delivered.sent
    assert (record["key"], record["value"], record["partition"]) == (
        "course-v1:edX+DemoX+Demo", {"display_name": "Demo", "org": "edX"}, None)
    assert record["value_serializer"] == stream.courses.value_serializer
    assert persisted == []  # applied (and its offset stored) only when this worker reads it back


def test_a_global_delete_is_a_tombstone(courses: Any) -> None:
    delivered, persisted = courses
    stream.put_global(stream.courses, "course-v1:edX+DemoX+Demo", None)
    [record] = delivered.sent
    assert (record["key"], record["value"], record["value_serializer"]) == ("course-v1:edX+DemoX+Demo", None, "raw")
    assert persisted == []


def test_global_stores_of_an_earlier_version_are_rebuilt_once(tmp_path: Path) -> None:
    tables = tmp_path / "v1" / "tables"
    for name in ("courses-0.db", "courses-backups", "external_id_types-0.db", "users-0.db", "users-3.db"):
        (tables / name).mkdir(parents=True)
        (tables / name / "000008.log").write_bytes(b"x")
    removed = stream.rebuild_unsafe_global_stores(tables)
    assert removed == ["courses-0.db", "courses-backups", "external_id_types-0.db"]
    # The partitioned users table is written locally first: its offsets were always right.
    assert sorted(p.name for p in tables.iterdir()) == [stream.READ_BACK_MARK, "users-0.db", "users-3.db"]
    (tables / "courses-0.db").mkdir()  # written by this version since
    assert stream.rebuild_unsafe_global_stores(tables) == []
    assert (tables / "courses-0.db").exists()


def test_a_new_data_dir_is_marked_with_nothing_to_rebuild(tmp_path: Path) -> None:
    tables = tmp_path / "data" / "v1" / "tables"
    assert stream.rebuild_unsafe_global_stores(tables) == []
    assert (tables / stream.READ_BACK_MARK).exists()

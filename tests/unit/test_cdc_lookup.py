"""Debezium decoding in every form, applied to the in-memory lookup with ERB's user resolution."""

from __future__ import annotations

import uuid

import pytest

from stream_app.errors import TransformError
from stream_app.tables.cdc import decode
from stream_app.tables.dimensions import generated_external_id
from stream_app.tables.memory import MemoryLookup

T = "openedx.cdc."


def envelope(after: dict | None, op: str = "c", before: dict | None = None) -> dict:
    return {"before": before, "after": after, "op": op, "ts_ms": 1, "source": {}}


def test_decode_forms() -> None:
    row = {"id": 1, "username": "a"}
    assert decode({"id": 1}, envelope(row)).row == row  # type: ignore[union-attr]
    assert decode({"id": 1}, {"schema": {}, "payload": envelope(row, "r")}).op == "upsert"  # type: ignore[union-attr]
    assert decode({"id": 1}, envelope(None, "d", before=row)).op == "delete"  # type: ignore[union-attr]
    assert decode({"id": 1}, {**row, "__deleted": "true"}).op == "delete"  # type: ignore[union-attr]
    assert decode({"id": 1}, {**row, "__deleted": "false"}).op == "upsert"  # type: ignore[union-attr]
    tomb = decode({"schema": {}, "payload": {"id": 1}}, None)
    assert tomb is not None and tomb.op == "delete" and tomb.key == 1
    assert decode({"id": 1}, {"op": "t", "before": None, "after": None}) is None


def test_decode_rejects_garbage() -> None:
    with pytest.raises(TransformError):
        decode(1, "not json {")
    with pytest.raises(TransformError):
        decode(1, [1, 2])


def seeded() -> MemoryLookup:
    lookup = MemoryLookup()
    lookup.apply(T + "external_user_ids_externalid", {"id": 9},
                 envelope({"id": 9, "external_user_id": "ext-x", "external_id_type_id": 1, "user_id": 3}))
    lookup.apply(T + "external_user_ids_externalidtype", {"id": 1}, envelope({"id": 1, "name": "xapi"}))
    lookup.apply(T + "auth_user", {"id": 3}, envelope({"id": 3, "username": "edx", "email": "e@x.org"}))
    lookup.apply(T + "auth_userprofile", {"id": 1}, envelope({"id": 1, "user_id": 3, "name": "Ed X"}))
    return lookup


def test_user_resolution_any_arrival_order_and_generated_ids() -> None:
    lookup = seeded()
    user = lookup.user(3)
    assert user is not None and user.username == "edx" and user.name == "Ed X"
    assert user.external_ids["xapi"] == "ext-x"
    assert user.external_ids["caliper"] == generated_external_id(lookup.namespace, "caliper", 3)  # type: ignore[arg-type]
    assert lookup.user("3") == user and lookup.user("edx") == user
    assert lookup.user("nobody") is None and lookup.user(4) is None


def test_username_change_and_delete() -> None:
    lookup = seeded()
    lookup.apply(T + "auth_user", {"id": 3}, envelope({"id": 3, "username": "renamed", "email": "e@x.org"}, "u"))
    assert lookup.user("edx") is None and lookup.user("renamed") is not None
    lookup.apply(T + "auth_user", {"id": 3}, None)  # tombstone
    assert lookup.user(3) is None and lookup.user("renamed") is None


def test_external_id_delete_falls_back_to_generated() -> None:
    lookup = seeded()
    before = {"id": 9, "user_id": 3, "external_id_type_id": 1}
    lookup.apply(T + "external_user_ids_externalid", {"id": 9}, envelope(None, "d", before=before))
    user = lookup.user(3)
    assert user is not None
    assert user.external_ids["xapi"] == str(uuid.uuid5(lookup.namespace, "xapi:3"))  # type: ignore[arg-type]


def test_courses_and_blocks() -> None:
    lookup = MemoryLookup()
    lookup.apply(T + "course_overviews_courseoverview", {"id": "course-v1:a+b+c"},
                 {"id": "course-v1:a+b+c", "display_name": None, "org": "a"})
    course = lookup.course("course-v1:a+b+c")
    assert course is not None and course.display_name is None and course.org == "a"
    lookup.apply(T + "course_blocks", None, {"location": "block-v1:a+b+c+type@video+block@v", "display_name": "V",
                                             "block_type": "video", "course_key": "course-v1:a+b+c"})
    block = lookup.block("block-v1:a+b+c+type@video+block@v")
    assert block is not None and block.block_type == "video"
    with pytest.raises(TransformError):
        lookup.apply(T + "unknown_table", 1, {"id": 1})

"""Deletes in any order: a deleted user or course is never re-created by a later child row, and child rows
that arrive before their auth_user row still make the user once it arrives (Debezium records, tests/debezium.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from stream_app.tables.cdc import decode
from stream_app.tables.dimensions import apply_user_change, skip_reason
from stream_app.tables.memory import MemoryLookup
from tests.debezium import Connector

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
EXT = uuid.UUID("9b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d")
COURSE = "course-v1:edX+DemoX+Demo_Course"


def user(uid: int, name: str = "learner") -> dict[str, Any]:
    return {"id": uid, "username": f"{name}{uid}", "email": f"{name}{uid}@example.org", "is_active": True,
            "is_staff": False, "is_superuser": False, "date_joined": WHEN, "last_login": None, "password": "x"}


def profile(uid: int, full_name: str = "Ada Learner") -> dict[str, Any]:
    return {"id": 100 + uid, "user_id": uid, "name": full_name, "year_of_birth": 1990, "allow_certificate": True,
            "profile_image_uploaded_at": None}


def ext(uid: int, type_id: int = 1) -> dict[str, Any]:
    return {"id": 200 + uid * 2 + type_id, "created": WHEN, "modified": WHEN, "external_user_id": EXT,
            "external_id_type_id": type_id, "user_id": uid}


def apply(lookup: MemoryLookup, records: list[dict[str, Any]]) -> None:
    for record in records:
        lookup.apply(record["topic"], record["key"], record["value"])


@pytest.fixture(params=[False, True], ids=["envelope", "flattened"])
def db(request: pytest.FixtureRequest) -> Connector:
    return Connector(flatten=request.param, schemas=request.param)


def seeded(db: Connector) -> MemoryLookup:
    lookup = MemoryLookup(namespace=None)
    apply(lookup, db.snapshot([
        ("external_user_ids_externalidtype", {"id": 1, "name": "xapi", "created": WHEN, "modified": WHEN}),
        ("auth_user", user(7)), ("auth_userprofile", profile(7)), ("external_user_ids_externalid", ext(7)),
        ("course_overviews_courseoverview", {"id": COURSE, "display_name": "Demo", "org": "edX", "start": WHEN}),
    ]))
    return lookup


def test_child_deletes_after_the_user_delete_do_not_recreate_it(db: Connector) -> None:
    lookup = seeded(db)
    assert lookup.user(7) is not None and lookup.user(7).name == "Ada Learner"  # type: ignore[union-attr]
    # The cascade as the binlog may order it: the parent first, then the children (before images).
    apply(lookup, db.delete("auth_user", user(7)))
    apply(lookup, db.delete("auth_userprofile", profile(7)))
    apply(lookup, db.delete("external_user_ids_externalid", ext(7)))
    # A late profile update (read from its partition after the delete) and a late external id.
    apply(lookup, db.update("auth_userprofile", profile(7), profile(7, "Late Name")))
    apply(lookup, db.create("external_user_ids_externalid", ext(7, 2)))
    assert lookup.user(7) is None and lookup.user("learner7") is None
    assert lookup.stores.users == {"7": {"id": 7, "deleted": True}}  # a marker: no personal data
    assert lookup.stores.usernames == {}


def test_child_rows_before_their_auth_user_row_make_the_user_when_it_arrives(db: Connector) -> None:
    lookup = MemoryLookup(namespace=None)
    apply(lookup, db.snapshot([
        ("auth_userprofile", profile(8)), ("external_user_ids_externalid", ext(8)),
        ("external_user_ids_externalidtype", {"id": 1, "name": "xapi", "created": WHEN, "modified": WHEN}),
    ]))
    assert lookup.user(8) is None  # pending: no auth_user row yet
    apply(lookup, db.create("auth_user", user(8)))
    found = lookup.user(8)
    assert found is not None and found.name == "Ada Learner" and found.external_ids == {"xapi": str(EXT)}


def test_pending_rows_emptied_by_their_own_deletes_leave_nothing(db: Connector) -> None:
    lookup = MemoryLookup(namespace=None)
    apply(lookup, db.create("auth_userprofile", profile(9)))
    apply(lookup, db.create("external_user_ids_externalid", ext(9)))
    apply(lookup, db.delete("auth_userprofile", profile(9)))
    apply(lookup, db.delete("external_user_ids_externalid", ext(9)))
    assert lookup.stores.users == {}


def test_a_child_delete_of_a_user_never_seen_writes_nothing(db: Connector) -> None:
    lookup = MemoryLookup(namespace=None)
    apply(lookup, db.delete("auth_userprofile", profile(10)))
    assert lookup.stores.users == {}


def test_an_auth_user_row_for_a_deleted_id_is_a_new_user(db: Connector) -> None:
    lookup = seeded(db)
    apply(lookup, db.delete("auth_user", user(7)))
    apply(lookup, db.create("auth_user", user(7, "again")))
    found = lookup.user(7)
    assert found is not None and found.username == "again7" and found.name is None and found.external_ids == {}


def test_skip_reasons() -> None:
    connector = Connector()
    (late,) = connector.create("auth_userprofile", profile(7))
    change = decode(late["key"], late["value"], "auth_userprofile")
    assert change is not None
    marker = apply_user_change(None, "7", "auth_user", decode({"id": 7}, None, "auth_user"))  # type: ignore[arg-type]
    assert marker == {"id": 7, "deleted": True}
    assert skip_reason(marker, "auth_userprofile", change) == "user_deleted"
    assert apply_user_change(marker, "7", "auth_userprofile", change) == marker
    delete = decode({"id": 107}, connector.delete("auth_userprofile", profile(7))[0]["value"], "auth_userprofile")
    assert delete is not None and skip_reason(None, "auth_userprofile", delete) == "unknown_user"
    assert skip_reason(None, "auth_userprofile", change) is None  # a pending row is kept


def test_course_deletes_in_every_form_leave_no_course(db: Connector) -> None:
    lookup = seeded(db)
    row = {"id": COURSE, "display_name": "Demo", "org": "edX", "start": WHEN}
    apply(lookup, db.delete("course_overviews_courseoverview", row))  # delete + tombstone
    assert lookup.course(COURSE) is None and lookup.stores.courses == {}
    apply(lookup, db.create("course_overviews_courseoverview", {**row, "display_name": "Back"}))
    assert lookup.course(COURSE).display_name == "Back"  # type: ignore[union-attr]

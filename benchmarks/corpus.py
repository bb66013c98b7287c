"""A varied benchmark corpus built from the golden fixtures: many users, distinct timestamps.

Every fixture event is replayed with user ids spread over `users` learners and
timestamps one millisecond apart, so statement ids, actors and lookups vary as
in production. The matching CDC records seed a `MemoryLookup`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from stream_app.tables.memory import MemoryLookup

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "golden" / "erb" / "cases"
COURSES = ("course-v1:edX+DemoX+Demo_Course", "ccx-v1:edX+DemoX+Demo_Course+ccx@1",
           "course-v1:TestX+XP101+2023_T1", "course-v1:testX+XAPI101+2019_T2")


def fixture_events() -> list[dict[str, Any]]:
    events = []
    for case in sorted(CASES.iterdir()):
        event = orjson.loads((case / "event.json").read_bytes())
        if "anonymous" not in case.name:
            events.append(event)
    return events


def _set_user(obj: Any, user_id: int) -> None:
    if isinstance(obj, dict):
        for key in list(obj):
            if key == "user_id" and obj[key] not in (None, ""):
                obj[key] = user_id
            elif key == "username" and obj[key] not in (None, ""):
                obj[key] = f"learner{user_id}"
            else:
                _set_user(obj[key], user_id)


def corpus(size: int, users: int = 1000) -> list[bytes]:
    """`size` JSON-encoded events cycling through the fixtures."""
    base = fixture_events()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(size):
        event = copy.deepcopy(base[i % len(base)])
        _set_user(event, 1 + i % users)
        stamp = (start + timedelta(milliseconds=i)).isoformat()
        for key in ("timestamp", "time"):
            if key in event:
                event[key] = stamp
        out.append(orjson.dumps(event))
    return out


def lookup(users: int = 1000) -> MemoryLookup:
    """CDC-seeded lookup for the corpus users and courses."""
    mem = MemoryLookup()
    mem.apply("openedx.cdc.external_user_ids_externalidtype", {"id": 1}, {"id": 1, "name": "xapi"})
    mem.apply("openedx.cdc.external_user_ids_externalidtype", {"id": 2}, {"id": 2, "name": "caliper"})
    for uid in range(1, users + 1):
        mem.apply("openedx.cdc.auth_user", {"id": uid},
                  {"id": uid, "username": f"learner{uid}", "email": f"learner{uid}@example.org"})
        for type_id in (1, 2):
            row = uid * 2 + type_id
            mem.apply("openedx.cdc.external_user_ids_externalid", {"id": row},
                      {"id": row, "user_id": uid, "external_id_type_id": type_id,
                       "external_user_id": f"00000000-0000-4000-8000-{uid:06d}{type_id:06d}"})
    for course in COURSES:
        mem.apply("openedx.cdc.course_overviews_courseoverview", {"id": course},
                  {"id": course, "display_name": "Demonstration Course", "org": "edX"})
    return mem

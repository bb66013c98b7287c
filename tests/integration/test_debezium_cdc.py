"""Debezium MySQL-connector records on the connector's own topic names, on the embedded broker.

The worker reads `<prefix>.<table>` topics through `STREAM_APP_CDC_TOPIC_PREFIX`
(no topics-file copy for them) and gets records exactly as the connector of
deploy/debezium/mysql-connector.json writes them (tests/debezium.py: JSON with
schemas, char(32) UUIDs, µs times, 0/1 flags, base64 DECIMALs): a snapshot
whose child rows come before their auth_user rows, creates, updates with before
and after images, deletes with tombstones, and child deletes after their
parent's delete. The tables must end in the database's final state (read from
the web views), and the statements for ERB's fixture events must equal what
`stream-app transform` makes of the same events with ERB's JSON seed (whose
statements the golden tests compare with ERB's own, ids included).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stream_app.devstack import seed
from tests.debezium import Connector
from tests.golden.erb_db import erb_database
from tests.golden.harness import ERB_DIR
from tests.integration.stack import Stack, wait_until, web_json

ERB_ENV = {"STREAM_APP_LMS_ROOT_URL": "http://localhost:18000",
           "STREAM_APP_TRANSFORMER_VERSION": "event-routing-backends@1.1.1"}
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
GONE = "course-v1:Gone+G1+2024"
EVENTS = [orjson.dumps(orjson.loads((case / "event.json").read_bytes()))
          for case in sorted((ERB_DIR / "cases").iterdir()) if case.is_dir()]


def user(uid: int, username: str | None = None) -> dict[str, Any]:
    return {"id": uid, "username": username or f"extra{uid}", "email": f"extra{uid}@example.org", "first_name": "",
            "last_name": "", "is_active": True, "is_staff": False, "is_superuser": False, "date_joined": WHEN,
            "last_login": None}


def profile(uid: int, name: str) -> dict[str, Any]:
    return {"id": 900 + uid, "user_id": uid, "name": name, "year_of_birth": None, "allow_certificate": True,
            "profile_image_uploaded_at": WHEN, "country": "FR"}


def ext(uid: int) -> dict[str, Any]:
    return {"id": 2000 + uid, "created": WHEN, "modified": WHEN, "external_user_id": uuid.UUID(int=uid),
            "external_id_type_id": 1, "user_id": uid}


def course(course_id: str) -> dict[str, Any]:
    return {"id": course_id, "display_name": "Gone", "org": "Gone", "start": WHEN, "self_paced": True,
            "lowest_passing_grade": None}


def snapshot_rows() -> list[tuple[str, dict[str, Any]]]:
    """ERB's fixture database and a few more rows, child tables first: a fresh snapshot's topics interleave."""
    rows = erb_database() + [
        ("auth_user", user(901)), ("auth_user", user(902)), ("auth_user", user(903)),
        ("auth_userprofile", profile(902, "Deleted Learner")), ("auth_userprofile", profile(903, "Old Name")),
        ("external_user_ids_externalid", ext(902)), ("course_overviews_courseoverview", course(GONE)),
    ]
    order = ["external_user_ids_externalid", "auth_userprofile", "external_user_ids_externalidtype", "auth_user",
             "course_overviews_courseoverview"]
    return sorted(rows, key=lambda item: order.index(item[0]))


def changes(db: Connector) -> list[dict[str, Any]]:
    return [
        *db.update("auth_user", user(901), user(901, "renamed901")),
        *db.update("auth_userprofile", profile(903, "Old Name"), profile(903, "New Name")),
        *db.create("auth_user", user(904)), *db.create("external_user_ids_externalid", ext(904)),
        *db.delete("auth_user", user(902)),  # the cascade of user 902 starts with its parent row
        *db.delete("course_overviews_courseoverview", course(GONE)),
    ]


def late_children(db: Connector) -> list[dict[str, Any]]:
    """User 902's child rows after its auth_user delete: their deletes (before images), then a late update."""
    return [
        *db.delete("auth_userprofile", profile(902, "Deleted Learner")),
        *db.delete("external_user_ids_externalid", ext(902)),
        *db.update("auth_userprofile", profile(902, "Deleted Learner"), profile(902, "Late Name")),
    ]


def applied(port: int, table: str) -> int:
    return int(view(port, "/stream-app/health/")["counts"].get(f"users:{table}", 0))


def produce(bootstrap: str, records: list[dict[str, Any]]) -> None:
    producer = seed.producer(bootstrap, "tansu")
    for record in records:
        key, value = record["key"], record["value"]
        producer.produce(record["topic"], key=orjson.dumps(key),
                         value=None if value is None else orjson.dumps(value))
        producer.poll(0)
    producer.flush()


def cli_statements(tmp: Path) -> list[dict[str, Any]]:
    """`stream-app transform` of ERB's fixture events with ERB's JSON seed (our seed format)."""
    source = tmp / "events.jsonl"
    source.write_bytes(b"\n".join(EVENTS) + b"\n")
    out = subprocess.run(
        [sys.executable, "-m", "stream_app", "transform", "--format", "xapi", "--cdc", str(ERB_DIR / "seed.jsonl"),
         "--input", str(source), "--lms-root-url", ERB_ENV["STREAM_APP_LMS_ROOT_URL"],
         "--version-string", ERB_ENV["STREAM_APP_TRANSFORMER_VERSION"]],
        check=True, capture_output=True,
    ).stdout
    return [orjson.loads(line) for line in out.splitlines()]


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the exposition sorts labels
    found = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def canonical(statement: dict[str, Any]) -> bytes:
    return orjson.dumps(statement, option=orjson.OPT_SORT_KEYS)


def view(port: int, path: str) -> Any:
    return web_json(port, path)


def test_debezium_records_leave_the_final_state_and_erbs_statements(stack: Stack, tmp_path: Path) -> None:
    prefix = f"{stack.env['STREAM_APP_APP_ID']}.lms"  # the connector's topic.prefix, unique per test
    worker, port = stack.start_worker("w1", STREAM_APP_CDC_TOPIC_PREFIX=f"{prefix}.openedx",
                                      STREAM_APP_WEB_SHOW_PERSONAL_DATA="true", **ERB_ENV)
    db = Connector(prefix=prefix, schemas=True)  # JSON converter with schemas, as deploy/debezium configures it
    snapshot = db.snapshot(snapshot_rows())
    assert [r["value"]["payload"]["source"]["snapshot"] for r in snapshot[:2]] == ["first", "true"]
    assert snapshot[-1]["value"]["payload"]["source"]["snapshot"] == "last"
    children = [r for r in snapshot if r["topic"].endswith(("_externalid", "_userprofile"))]
    produce(stack.bootstrap, children)
    # The child rows are applied before any auth_user row exists: pending, not users.
    wait_until(lambda: applied(port, "external_user_ids_externalid") == 47 and applied(port, "auth_userprofile") == 2)
    assert view(port, "/stream-app/users/903/") == {"key": "903", "value": None, "state": "pending"}
    produce(stack.bootstrap, [r for r in snapshot if r not in children])
    wait_until(lambda: (view(port, "/stream-app/users/903/")["value"] or {}).get("name") == "Old Name")
    assert view(port, "/stream-app/users/3/")["state"] == "user"
    produce(stack.bootstrap, changes(db))
    wait_until(lambda: view(port, "/stream-app/users/902/")["state"] == "deleted")
    produce(stack.bootstrap, late_children(db))

    wait_until(lambda: metric(port, "stream_app_cdc_dropped_total", table="auth_userprofile",
                              reason="user_deleted") == 2.0)
    wait_until(lambda: metric(port, "stream_app_cdc_dropped_total", table="external_user_ids_externalid",
                              reason="user_deleted") == 1.0)
    assert view(port, "/stream-app/users/902/")["value"] is None  # no stub after the late child rows
    wait_until(lambda: view(port, "/stream-app/usernames/renamed901/")["value"] == "901")
    assert view(port, "/stream-app/usernames/extra901/")["value"] is None
    assert view(port, "/stream-app/usernames/extra902/")["value"] is None
    wait_until(lambda: (view(port, "/stream-app/users/903/")["value"] or {}).get("name") == "New Name")
    new = wait_until(lambda: (view(port, "/stream-app/users/904/")["value"] or {}).get("ext"))
    assert new == {"1": str(uuid.UUID(int=904))}
    wait_until(lambda: view(port, f"/stream-app/courses/{GONE}/")["value"] is None)
    erb_user = view(port, "/stream-app/users/3/")["value"]
    # char(32) on the wire, Django's UUIDField form in the table (ERB's actor.account.name).
    assert erb_user["ext"] == {"1": "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb", "2": "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"}
    assert erb_user["username"] == "user3" and erb_user["email"] == "edx@example.com"
    demo = view(port, "/stream-app/courses/course-v1:edX+DemoX+Demo_Course/")["value"]
    assert demo == {"display_name": "Demonstration Course", "org": "edX"}

    want = cli_statements(tmp_path)
    assert len(want) >= 80
    stack.produce_tracking(EVENTS)
    # ERB's ids hash only actor and timestamp, and several fixture events share both: compare the
    # statements themselves, not a map by id (the output topic's partitions interleave them).
    wanted = {canonical(s) for s in want}
    records = stack.read("xapi", len(want), timeout=120,
                         done=lambda got: wanted <= {canonical(json.loads(r["statement"])) for r in got})
    assert {canonical(json.loads(r["statement"])) for r in records} == wanted
    assert len(records) >= len(want)

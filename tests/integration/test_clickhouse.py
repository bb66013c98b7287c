"""ClickHouse sink end to end: a worker writes statements and course structure into embedded chDB.

chDB runs one embedded server per process, so the worker owns the database
while it runs and the test reads it from a separate process after stopping it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.integration.stack import Stack, wait_until, web_json
from tests.integration.test_topology import CDC, EVENTS, cli_output, wait_for_cdc

QUERY = """
import sys, orjson, chdb.session as s
session = s.Session(sys.argv[1])
out = {}
for name, sql in orjson.loads(sys.argv[2]).items():
    out[name] = orjson.loads(session.query(sql, "JSON").bytes())["data"]
print(orjson.dumps(out).decode())
"""


def query(path: Path, **sql: str) -> dict[str, list[dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-c", QUERY, str(path), orjson.dumps(sql).decode()], check=True,
                          capture_output=True, timeout=120)
    return orjson.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_statements_and_course_structure_land_once_even_when_sent_twice(stack: Stack, tmp_path: Path) -> None:
    db = tmp_path / "ch"
    routers = tmp_path / "routers.yaml"
    routers.write_text(yaml.safe_dump({"routers": [{
        "name": "aspects", "type": "clickhouse", "url": f"chdb://{db}", "batch": {"size": 1000, "max_wait": "500ms"},
        "objects": ["statements", "course_overviews", "course_blocks"], "retry_delays": ["1s"]}]}))
    stack.env["STREAM_APP_ROUTERS_FILE"] = str(routers)
    worker, port = stack.start_worker("w1")
    course = "course-v1:edX+DemoX+Demo_Course"
    key = "block-v1:edX+DemoX+Demo_Course+type@{}+block@{}"
    blocks = [{"topic": "openedx.cdc.course_blocks", "key": {"location": key.format(t, n)},
               "value": {"op": "c", "ts_ms": 1767225600000, "before": None, "after": {
                   "location": key.format(t, n), "display_name": name,
                   "block_type": t, "course_key": course, "graded": False}}}
              for t, n, name in (("chapter", "c1", "Week 1"), ("sequential", "s1", "Lesson"), ("video", "v1", "Intro"))]
    stack.produce_cdc([*CDC, *blocks])
    wait_for_cdc([port])
    stack.produce_tracking(EVENTS)
    stack.produce_tracking(EVENTS)  # a replay: the same statement ids again
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: web_json(port, "/stream-app/routers/")["aspects"]["delivered"] >= 2 * len(want), timeout=90)
    worker.stop()
    got = query(
        db,
        statements="SELECT event_id, event FROM xapi.xapi_events_all FINAL",
        all_rows="SELECT count() AS n FROM xapi.xapi_events_all",
        courses="SELECT course_key, display_name FROM event_sink.course_overviews FINAL",
        blocks="SELECT location, display_name FROM event_sink.course_blocks FINAL",
    )
    assert sorted(r["event_id"] for r in got["statements"]) == sorted(w["id"] for w in want)
    assert {r["event_id"]: orjson.loads(r["event"]) for r in got["statements"]} == {w["id"]: w for w in want}
    courses = {r["course_key"] for r in got["courses"]}
    assert len(courses) == 4 and "course-v1:edX+DemoX+Demo_Course" in courses
    assert {r["display_name"] for r in got["blocks"]} == {"Week 1", "Lesson", "Intro"}

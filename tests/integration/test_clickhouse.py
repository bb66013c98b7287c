"""ClickHouse sink end to end: a worker writes statements and course structure into embedded chDB.

chDB runs one embedded server per process, so the worker owns the database
while it runs: the tests read it through the worker's query view
(`stream-app clickhouse query --worker`) or from a separate process after stopping it.
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


HOLD = """
import sys, chdb.session as s
session = s.Session(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
session.close()
"""


def test_personal_data_streams_in_retirement_erases_it_and_an_outage_loses_nothing(
        stack: Stack, tmp_path: Path) -> None:
    db = tmp_path / "ch"
    # The outage: another process holds the chDB directory, so the worker cannot open it until released.
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        routers = tmp_path / "routers.yaml"
        routers.write_text(yaml.safe_dump({"routers": [{
            "name": "aspects", "type": "clickhouse", "url": f"chdb://{db}", "pii": True,
            "batch": {"size": 1000, "max_wait": "500ms"},
            "objects": ["statements", "course_overviews", "user_profile", "external_id"],
            "retry_delays": ["1s", "2s", "4s", "8s", "16s", "30s"]}]}))
        stack.env["STREAM_APP_ROUTERS_FILE"] = str(routers)
        worker, port = stack.start_worker("w1")
        profiles = [{"topic": "openedx.cdc.auth_userprofile", "key": {"id": 100 + u},
                     "value": {"id": 100 + u, "user_id": u, "name": f"Learner {u}", "country": "FR"}} for u in (1, 2)]
        stack.produce_cdc([*CDC, *profiles])
        wait_for_cdc([port])
        stack.produce_tracking(EVENTS)
        want = cli_output("xapi", CDC, EVENTS, tmp_path)

        def status() -> dict[str, Any]:
            return web_json(port, "/stream-app/routers/")["aspects"]  # type: ignore[no-any-return]

        wait_until(lambda: "clickhouse_unavailable" in (status()["last_error"] or ""), timeout=60)
        # The worker's log says in one line who holds the directory (no chDB riddle, no traceback).
        worker.wait_for_log(f"chDB at {db} is in use by another process (pid {holder.pid}", timeout=60)
        assert status()["delivered"] == 0 and status()["rows_written"] == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # ClickHouse is back
        holder.wait(timeout=60)
    # Everything held back lands: 4 courses, 2 profiles, 32 external ids, every statement.
    wait_until(lambda: status()["delivered"] >= len(want) and status()["rows_written"] >= 38, timeout=120,
               explain=lambda: (len(want), status()))
    stack.produce_cdc([{"topic": "openedx.cdc.auth_user", "key": {"id": 2}, "value": None}])  # user 2 deleted
    wait_until(lambda: web_json(port, "/stream-app/health/")["counts"].get("clickhouse:aspects:retired", 0) == 1)
    worker.stop()
    got = query(
        db,
        statements="SELECT event_id FROM xapi.xapi_events_all FINAL",
        courses="SELECT course_key FROM event_sink.course_overviews FINAL",
        profiles="SELECT user_id, name, country, username FROM event_sink.user_profile FINAL ORDER BY user_id",
        external="SELECT user_id, external_id_type, external_user_id FROM event_sink.external_id FINAL",
    )
    assert sorted(r["event_id"] for r in got["statements"]) == sorted(w["id"] for w in want)
    assert len(got["courses"]) == 4
    # Personal data streamed in from CDC; user 2's was erased on deletion.
    assert got["profiles"] == [{"user_id": 1, "name": "Learner 1", "country": "FR", "username": "learner1"}]
    external = {(r["user_id"], r["external_id_type"]) for r in got["external"]}
    assert len(external) == 30 and (1, "xapi") in external and not any(u == 2 for u, _ in external)
    assert next(r for r in got["external"] if (r["user_id"], r["external_id_type"]) == (1, "xapi"))[
        "external_user_id"] == "00000000-0000-4000-8000-000001000001"


def test_while_the_worker_holds_the_database_it_is_queried_through_the_worker(stack: Stack, tmp_path: Path) -> None:
    import os
    import urllib.error
    import urllib.parse
    import urllib.request

    db = tmp_path / "ch"
    routers = tmp_path / "routers.yaml"
    routers.write_text(yaml.safe_dump({"routers": [{
        "name": "aspects", "type": "clickhouse", "url": f"chdb://{db}", "batch": {"size": 1000, "max_wait": "500ms"},
        "objects": ["statements", "course_overviews"], "retry_delays": ["1s"]}]}))
    stack.env["STREAM_APP_ROUTERS_FILE"] = str(routers)
    worker, port = stack.start_worker("w1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    stack.produce_tracking(EVENTS)
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: web_json(port, "/stream-app/routers/")["aspects"]["delivered"] >= len(want), timeout=90)
    cli = [str(Path(sys.executable).with_name("stream-app")), "clickhouse", "query"]
    env = {**os.environ, **stack.env}
    count = "SELECT count() AS n FROM (SELECT DISTINCT event_id FROM xapi.xapi_events_all FINAL)"

    # Directly: the worker holds the directory, and the operator is told so in one line, with what to do.
    direct = subprocess.run([*cli, count], env=env, capture_output=True, text=True, timeout=120)
    assert direct.returncode == 1 and "Traceback" not in direct.stderr
    assert len(direct.stderr.strip().splitlines()) == 1
    assert f"chDB at {db} is in use by another process (pid {worker.popen.pid}" in direct.stderr
    assert "--worker" in direct.stderr

    # Through the worker: the rows, as JSON lines.
    through = subprocess.run([*cli, "--worker", f"http://127.0.0.1:{port}", count], env=env, capture_output=True,
                             text=True, timeout=120)
    assert through.returncode == 0, through.stderr
    assert [orjson.loads(line) for line in through.stdout.splitlines()] == [{"n": len(want)}]
    ids = subprocess.run([*cli, "--worker", f"http://127.0.0.1:{port}/", "--limit", "2",
                          "SELECT toString(event_id) AS event_id FROM xapi.xapi_events_all FINAL ORDER BY event_id"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert [orjson.loads(line)["event_id"] for line in ids.stdout.splitlines()] == sorted(w["id"] for w in want)[:2]
    assert "router aspects: 2 row(s) (truncated at --limit 2)" in ids.stderr

    # The view refuses anything but a SELECT, whoever calls it, and leaves the tables as they were.
    for sql in ("DROP TABLE xapi.xapi_events_all", "SELECT 1; TRUNCATE TABLE xapi.xapi_events_all"):
        url = f"http://127.0.0.1:{port}/stream-app/clickhouse/query/?" + urllib.parse.urlencode({"sql": sql})
        try:
            urllib.request.urlopen(url, timeout=30)
            raise AssertionError(f"{sql!r} was not refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400 and "error" in orjson.loads(exc.read())
    refused = subprocess.run([*cli, "--worker", f"http://127.0.0.1:{port}", "DROP TABLE xapi.xapi_events_all"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "only SELECT queries" in refused.stderr
    answer = web_json(port, "/stream-app/clickhouse/query/?sql=" + urllib.parse.quote(count))
    assert answer == {"router": "aspects", "rows": [{"n": len(want)}], "count": 1, "limit": 1000, "truncated": False}

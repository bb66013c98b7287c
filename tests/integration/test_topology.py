"""The stream topology on the real embedded broker: CDC tables, Avro output, restarts, failover, late users.

Workers are real `faust -A stream_app worker` processes; each test has its own
topic names and app id (see `stack.py`). Output is decoded with confluent-kafka's
AvroDeserializer over HTTP and compared with what `stream-app transform` makes
of the same events and CDC seed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from stream_app import deadletter
from tests.integration.stack import RegistryProcess, Stack, wait_until, web_json
from tests.integration.trail import trail

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
CDC = [orjson.loads(line) for line in (SAMPLES / "cdc.jsonl").read_bytes().splitlines() if line.strip()]
EVENTS = [line for line in (SAMPLES / "tracking.jsonl").read_bytes().splitlines() if line.strip()]


def cli_output(fmt: str, cdc: list[dict[str, Any]], events: list[bytes], tmp: Path) -> list[dict[str, Any]]:
    seed = tmp / "seed.jsonl"
    seed.write_bytes(b"\n".join(orjson.dumps(r) for r in cdc) + b"\n")
    source = tmp / "events.jsonl"
    source.write_bytes(b"\n".join(events) + b"\n")
    out = subprocess.run(
        [sys.executable, "-m", "stream_app", "transform", "--format", fmt, "--cdc", str(seed), "--input", str(source)],
        check=True, capture_output=True,
    ).stdout
    return [orjson.loads(line) for line in out.splitlines()]


def statements(records: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    return [json.loads(r[field]) for r in records]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def has_all(want: list[dict[str, Any]]) -> Any:
    """A `Stack.read(done=...)` predicate: every wanted statement id has arrived (repeats allowed)."""
    ids = {w["id"] for w in want}
    return lambda records: ids <= {r["event_id"] for r in records}


def applied(ports: list[int], counter: str) -> int:
    return sum(int(web_json(port, "/stream-app/health/")["counts"].get(counter, 0)) for port in ports)


def wait_for_cdc(ports: list[int]) -> None:
    """Until every user row and external id of the sample seed is in the users table (applied at least once:
    a rebalance while the records are read has a worker apply some again)."""
    wait_until(lambda: applied(ports, "users:external_user_ids_externalid") >= 32
               and applied(ports, "users:auth_user") >= 20)


def load_users_then_events(stack: Stack, port: int) -> None:
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    stack.produce_tracking(EVENTS)


def sum_users(port: int) -> int:
    return int(web_json(port, "/stream-app/tables/")["users"])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def test_output_is_avro_identical_to_the_transform_cli(stack: Stack, tmp_path: Path) -> None:
    worker, port = stack.start_worker("w1")
    idle = scrape(port)
    assert "stream_app_statements_out_total{" not in idle and "stream_app_events_in_total{" not in idle
    load_users_then_events(stack, port)
    stack.produce_tracking([b'{"name": "problem_check", "broken'])
    want_xapi = cli_output("xapi", CDC, EVENTS, tmp_path)
    want_caliper = cli_output("caliper", CDC, EVENTS, tmp_path)
    xapi = stack.read("xapi", len(want_xapi))
    caliper = stack.read("caliper", len(want_caliper))
    assert by_id(statements(xapi, "statement")) == by_id(want_xapi)
    assert by_id(statements(caliper, "event")) == by_id(want_caliper)
    assert len(xapi) == len(want_xapi)  # no duplicates
    first = xapi[0]
    assert set(first) == {"event_id", "verb_id", "actor_id", "object_id", "course_id", "org", "emission_time",
                          "event_name", "statement"}
    assert first["event_id"] == json.loads(first["statement"])["id"]
    # Rejects went to the dead-letter topic with stage, reason and original bytes.
    dead = stack.read("dead_letter", 2, settle=1.0, done=lambda got: any(d["stage"] == "parse" for d in got))
    assert {d["stage"] for d in dead} == {"transform", "parse"}
    assert all(d["reason"] and d["original"] for d in dead)
    # The tracking consumer names the topic, partition and offset of what it could not parse.
    (unparsable,) = [d for d in dead if d["stage"] == "parse"]
    assert unparsable["reason"] == "invalid_json" and unparsable["original"].endswith('"broken')
    assert unparsable["source"]["topic"] == stack.specs["tracking"].name
    assert isinstance(unparsable["source"]["partition"], int) and isinstance(unparsable["source"]["offset"], int)
    # The Prometheus view counts what flowed (nothing was counted before the events).
    metrics = scrape(port)
    assert f'stream_app_statements_out_total{{format="xapi"}} {float(len(want_xapi))}' in metrics
    assert 'stream_app_events_in_total{name="problem_check"}' in metrics
    assert 'stream_app_consumer_lag{partition="0",topic="' in metrics
    tracking_lag = rf'stream_app_consumer_lag{{partition="\d",topic="{re.escape(stack.specs["tracking"].name)}"}}'
    assert re.search(tracking_lag, metrics)  # the tracking consumer's own lag figures


BLOCK = "block-v1:edX+DemoX+Demo_Course+type@video+block@welcome"


def test_cdc_snapshot_updates_and_deletes_land_in_the_tables(stack: Stack) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_WEB_SHOW_PERSONAL_DATA="true")
    stack.produce_cdc(CDC)
    wait_until(lambda: sum_users(port) == 20)
    user = wait_until(lambda: web_json(port, "/stream-app/users/1/")["value"])
    assert user["username"] == "learner1" and user["email"] == "learner1@example.org"
    topic = "openedx.cdc."
    stack.produce_cdc([
        # An update (flattened form), a rename, a delete (tombstone) and a course rename (wrapped envelope).
        {"topic": topic + "auth_user", "key": {"id": 1},
         "value": {"id": 1, "username": "learner1", "email": "new@example.org", "__deleted": "false"}},
        {"topic": topic + "auth_user", "key": {"id": 2},
         "value": {"before": None, "after": {"id": 2, "username": "renamed2", "email": "l2@example.org"}, "op": "u"}},
        {"topic": topic + "auth_user", "key": {"id": 3}, "value": None},
        {"topic": topic + "course_overviews_courseoverview", "key": {"id": "course-v1:edX+DemoX+Demo_Course"},
         "value": {"schema": {}, "payload": {"before": None, "op": "u", "after": {
             "id": "course-v1:edX+DemoX+Demo_Course", "display_name": "Renamed", "org": "edX"}}}},
        # A profile (the user's full name) and two blocks, one of them deleted again by an envelope `op: d`.
        {"topic": topic + "auth_userprofile", "key": {"id": 101},
         "value": {"before": None, "after": {"id": 101, "user_id": 1, "name": "Ada Learner"}, "op": "c"}},
        {"topic": topic + "course_blocks", "key": {"location": BLOCK},
         "value": {"location": BLOCK, "display_name": "Welcome", "block_type": "video",
                   "course_key": "course-v1:edX+DemoX+Demo_Course", "graded": False, "__deleted": "false"}},
        {"topic": topic + "course_blocks", "key": {"location": BLOCK + "2"},
         "value": {"op": "r", "before": None, "after": {"location": BLOCK + "2", "display_name": "Gone",
                                                       "block_type": "problem", "course_key": "x", "graded": True}}},
        {"topic": topic + "course_blocks", "key": {"location": BLOCK + "2"},
         "value": {"op": "d", "before": {"location": BLOCK + "2"}, "after": None}},
    ])
    wait_until(lambda: web_json(port, "/stream-app/users/1/")["value"]["email"] == "new@example.org")
    wait_until(lambda: web_json(port, "/stream-app/users/3/")["value"] is None)
    wait_until(lambda: web_json(port, "/stream-app/usernames/renamed2/")["value"] == "2")
    assert web_json(port, "/stream-app/usernames/learner2/")["value"] is None
    course = web_json(port, "/stream-app/courses/course-v1:edX+DemoX+Demo_Course/")["value"]
    assert course["display_name"] == "Renamed"
    block = wait_until(lambda: web_json(port, f"/stream-app/blocks/{BLOCK}/")["value"])
    assert (block["display_name"], block["block_type"]) == ("Welcome", "video")
    wait_until(lambda: web_json(port, "/stream-app/users/1/")["value"].get("name") == "Ada Learner")
    assert web_json(port, f"/stream-app/blocks/{BLOCK}2/")["value"] is None
    # Personal data is masked unless enabled.
    masked, masked_port = stack.start_worker("w2", STREAM_APP_WEB_SHOW_PERSONAL_DATA="false")
    wait_until(lambda: web_json(masked_port, "/stream-app/users/1/")["value"])
    assert web_json(masked_port, "/stream-app/users/1/")["value"]["email"] == "***"


def test_dimension_changes_reach_the_statements_made_after_them(stack: Stack) -> None:
    # The enrich agent caches table reads: a change must drop the cached entry (global tables: via
    # their changelog; the users table: on write), or later statements would keep the old values.
    worker, port = stack.start_worker("w1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    event = json.loads(EVENTS[2])  # learner 3 enrols in the demo course
    assert event["context"]["user_id"] == 3
    stack.produce_tracking([EVENTS[2]])
    before = json.loads(stack.read("xapi", 1, timeout=60, settle=0)[0]["statement"])
    assert before["object"]["definition"]["name"] == {"en": "Demonstration Course"}
    assert before["actor"]["account"]["name"] == "00000000-0000-4000-8000-000003000001"
    course = event["context"]["course_id"]
    stack.produce_cdc([
        {"topic": "openedx.cdc.course_overviews_courseoverview", "key": {"id": course},
         "value": {"id": course, "display_name": "Renamed", "org": "edX"}},
        {"topic": "openedx.cdc.external_user_ids_externalid", "key": {"id": 7},
         "value": {"id": 7, "user_id": 3, "external_id_type_id": 1, "external_user_id": "new-xapi-id-of-3"}},
    ])
    wait_until(lambda: web_json(port, f"/stream-app/courses/{course}/")["value"]["display_name"] == "Renamed")
    wait_until(lambda: applied([port], "users:external_user_ids_externalid") == 33)
    event["timestamp"] = "2026-02-01T00:00:00.000000+00:00"
    stack.produce_tracking([orjson.dumps(event)])
    # Output records are keyed by actor id, which has just changed: the new statement can sit on
    # another partition than the first one, so look for it rather than take the last record read.
    def later(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        statements = [json.loads(r["statement"]) for r in records]
        return [s for s in statements if s["timestamp"].startswith("2026-02-01")]

    records = stack.read("xapi", 2, timeout=60, settle=0, done=lambda records: bool(later(records)))
    (after,) = later(records)
    assert after["object"]["definition"]["name"] == {"en": "Renamed"}
    assert after["actor"]["account"]["name"] == "new-xapi-id-of-3"


def test_event_before_its_user_is_held_then_emitted(stack: Stack) -> None:
    worker, port = stack.start_worker("w1")
    event = EVENTS[0]
    user_id = str(json.loads(event)["context"]["user_id"])
    others = [r for r in CDC if r["topic"].endswith("auth_user") is False or str(r["key"]["id"]) != user_id]
    stack.produce_cdc(others)
    wait_until(lambda: sum_users(port) >= 19)
    stack.produce_tracking([event])
    wait_until(lambda: web_json(port, "/stream-app/health/")["counts"].get("held", 0) >= 1)
    assert stack.read("xapi", 1, timeout=3, settle=0) == []
    stack.produce_cdc([r for r in CDC if r["topic"].endswith("auth_user") and str(r["key"]["id"]) == user_id])
    out = stack.read("xapi", 1, timeout=30)
    assert len(out) == 1


def test_restart_with_empty_data_dir_recovers_tables(stack: Stack, tmp_path: Path) -> None:
    worker, port = stack.start_worker("w1", data_dir=tmp_path / "first")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    worker.stop()
    # The other documented way to start a worker, `python -m stream_app worker`.
    fresh, port2 = stack.start_worker("w2", data_dir=tmp_path / "second", as_module=True)
    wait_until(lambda: sum_users(port2) == 20)
    assert applied([port2], "users:auth_user") < 20  # the users came back from the changelog, not the CDC topic
    stack.produce_tracking(EVENTS)
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    got = stack.read("xapi", len(want))
    missing = set(by_id(want)) - set(by_id(statements(got, "statement")))
    assert not missing, (web_json(port2, "/stream-app/health/"), web_json(port2, "/stream-app/tables/"),
                         [by_id(want)[k]["actor"] for k in missing])
    assert by_id(statements(got, "statement")) == by_id(want)


def complete_global_tables(port: int) -> bool:
    """Whether a worker holds every entry of the sample seed in each global table (all partitions)."""
    sizes = web_json(port, "/stream-app/tables/")
    return (sizes["usernames"], sizes["user_names"], sizes["courses"], sizes["external_id_types"]) == (20, 20, 4, 2)


def test_two_workers_split_partitions_and_survive_a_kill(stack: Stack, tmp_path: Path) -> None:
    # Four sample users have no external-id rows: their events wait out the grace, then get generated
    # ids. A short grace keeps that wait well inside the read below on a loaded CI machine.
    stack.env["STREAM_APP_EXTERNAL_ID_GRACE"] = "3s"
    first, port1 = stack.start_worker("w1")
    second, port2 = stack.start_worker("w2")
    stack.produce_cdc(CDC)
    wait_for_cdc([port1, port2])
    # Each worker applies half of the CDC partitions; both must see every global entry, the other
    # worker's writes included (they were once stuck in Faust's changelog buffer until a rebalance).
    try:
        wait_until(lambda: complete_global_tables(port1) and complete_global_tables(port2), timeout=30)
    except TimeoutError:
        raise AssertionError([web_json(port, "/stream-app/tables/") for port in (port1, port2)]) from None
    # The users table is partitioned: each worker holds its own share of the 20 learners.
    wait_until(lambda: 0 < sum_users(port1) < 20 and sum_users(port1) + sum_users(port2) == 20, timeout=30)
    half = len(EVENTS) // 2
    stack.produce_tracking(EVENTS[:half])
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: len(stack.read("xapi", 1, timeout=2, settle=0)) > 0)
    offset = second.log.stat().st_size
    first.stop(signal.SIGKILL)
    stack.produce_tracking(EVENTS[half:])
    got = stack.read("xapi", len(want), timeout=120, done=has_all(want))
    # At-least-once: a record may appear twice after the kill, but none is missing and ids are stable.
    got_by_id, want_by_id = by_id(statements(got, "statement")), by_id(want)
    # No event lost: every expected statement is there, identical. (Re-processing after the kill may add
    # repeats; a repeat with the same id is harmless, see docs/development.md "Known issues" for the rest.)
    missing = set(want_by_id) - set(got_by_id)
    assert not missing, (trail(stack, EVENTS, missing, tmp_path), web_json(port2, "/stream-app/health/"))
    assert all(got_by_id[k] == want_by_id[k] for k in want_by_id)
    # The survivor took the killed worker's partitions over (a rebalance and a recovery after the kill).
    assert "Worker ready" in second.log.read_bytes()[offset:].decode(errors="replace")



def test_unknown_user_goes_to_dead_letter_after_the_bounded_wait(stack: Stack) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_LATE_DIMENSION_WAIT="3s")
    stack.produce_cdc([r for r in CDC if not r["topic"].endswith("auth_user")])
    event = json.loads(EVENTS[0])
    event["context"]["user_id"] = 999  # nobody: no CDC record will ever come
    stack.produce_tracking([orjson.dumps(event)])
    dead = stack.read("dead_letter", 1, timeout=60, settle=0.5)
    assert [(d["stage"], d["reason"]) for d in dead] == [("enrich", "unknown_user")]
    assert json.loads(dead[0]["original"])["context"]["user_id"] == 999
    assert dead[0]["attempts"] >= 1
    assert stack.read("xapi", 1, timeout=2, settle=0) == []


def test_user_without_external_id_gets_a_generated_one_stored_and_published(stack: Stack) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_EXTERNAL_ID_GRACE="2s")
    # Learner 5 has an auth_user row but no external-id rows in the sample seed.
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    event = next(e for e in EVENTS if json.loads(e).get("context", {}).get("user_id") == 5)
    stack.produce_tracking([event])
    out = stack.read("xapi", 1, timeout=60)
    published = stack.read("generated_external_ids", 2, timeout=30)
    from stream_app.tables.dimensions import DEFAULT_ID_NAMESPACE, generated_external_id

    expected = generated_external_id(DEFAULT_ID_NAMESPACE, "xapi", 5)
    assert json.loads(out[0]["statement"])["actor"]["account"]["name"] == expected
    assert {(p["user_id"], p["type"], p["external_user_id"]) for p in published} >= {(5, "xapi", expected)}
    stored = wait_until(lambda: web_json(port, "/stream-app/users/5/")["value"].get("generated"))
    assert stored["xapi"] == expected


def test_graceful_restart_under_load_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    first, port = stack.start_worker("w1", data_dir=tmp_path / "d1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    stack.produce_tracking(EVENTS * 3)
    first.stop()  # SIGTERM while the backlog is still being fetched
    second, port2 = stack.start_worker("w2", data_dir=tmp_path / "d2")
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    # Events of learners without an external id wait out the grace period before an id is generated.
    got = stack.read("xapi", len(want), timeout=90, done=has_all(want))
    missing = set(by_id(want)) - set(by_id(statements(got, "statement")))
    assert not missing, web_json(port2, "/stream-app/health/")


def test_caliper11_output_is_identical_to_the_transform_cli(stack: Stack, tmp_path: Path) -> None:
    stack.env["STREAM_APP_FORMATS"] = "xapi,caliper,caliper11"
    worker, port = stack.start_worker("w1")
    load_users_then_events(stack, port)
    want = cli_output("caliper11", CDC, EVENTS, tmp_path)
    assert want, "the samples exercise Caliper 1.1"
    got = stack.read("caliper11", len(want))
    assert by_id(statements(got, "event")) == by_id(want)
    assert {json.loads(r["event"])["@context"] for r in got} == {"http://purl.imsglobal.org/ctx/caliper/v1p1"}


def test_an_event_whose_output_is_too_large_is_dead_lettered_and_its_input_still_committed(
        stack: Stack, tmp_path: Path) -> None:
    from confluent_kafka import Consumer, TopicPartition

    worker, port = stack.start_worker("w1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    big = json.loads(max((e for e in EVENTS if b'"problem_check"' in e), key=len))
    answer = next(iter(big["event"]["submission"]))
    big["event"]["submission"][answer]["answer"] = "x" * 560_000  # the statement + the event header pass 1 MB
    stack.produce_tracking([orjson.dumps(big), *EVENTS])
    dead = stack.read("dead_letter", 1, settle=1.0, done=lambda got: any(d["stage"] == "output" for d in got))
    refused = [d for d in dead if d["stage"] == "output"]
    assert {d["reason"] for d in refused} == {"refused:MSG_SIZE_TOO_LARGE"}
    assert {d["format"] for d in refused} <= {"xapi", "caliper"} and refused[0]["event_name"] == "problem_check"
    original = deadletter.original_bytes(refused[0])  # the event itself: re-drivable once limits are raised
    assert original is not None and orjson.loads(original)["event"]["submission"][answer]["answer"] == "x" * 560_000
    # Every other event's statements still come out, and the big event's input is committed past, not stuck.
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    stack.read("xapi", len(want), done=has_all(want))
    name = stack.specs["events_by_actor"].name
    reader = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"probe-{port}", "enable.auto.commit": False})
    group = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": stack.env["STREAM_APP_APP_ID"]})
    try:
        partitions = list(reader.list_topics(name, timeout=10).topics[name].partitions)
        reader.assign([TopicPartition(name, p, 0) for p in partitions])
        holding: tuple[int, int] | None = None
        while holding is None:
            message = reader.poll(10)
            assert message is not None, "the big event's events-by-actor message was not found"
            if not message.error() and len(message.value() or b"") > 560_000:
                holding = (message.partition() or 0, message.offset() or 0)

        def committed_past() -> bool:
            (tp,) = group.committed([TopicPartition(name, holding[0])], timeout=10)
            return tp.offset > holding[1]

        wait_until(committed_past, timeout=60)
    finally:
        reader.close()
        group.close()


def test_a_registry_outage_holds_the_stream_and_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    # The worker starts while its registry is down, so the output schemas cannot be registered. The
    # events must wait (they used to become dead letters of stage enrich, one by one), then all come out.
    (tmp_path / "registry").mkdir()
    registry = RegistryProcess(stack.bootstrap, tmp_path / "registry")
    stack.registry_url = registry.url  # nothing listens there yet
    worker, port = stack.start_worker("w1")
    load_users_then_events(stack, port)

    def tried() -> Any:  # the worker has met the outage: it waits (or, before, dead-lettered the events)
        counts = web_json(port, "/stream-app/health/")["counts"]
        return (counts.get("registry:unavailable", 0) >= 2 or any(k.startswith("dead_letter:enrich") for k in counts)) \
            and counts

    counts = wait_until(tried, timeout=90)
    assert counts.get("out:xapi", 0) == 0 and not [k for k in counts if k.startswith("dead_letter:enrich")], counts
    (waiting,) = web_json(port, "/stream-app/health/")["waiting"]
    assert waiting["for"].startswith("registering ") and "ConnectError" in waiting["error"]
    registry.start()
    try:
        want = cli_output("xapi", CDC, EVENTS, tmp_path)
        got = stack.read("xapi", len(want), timeout=120, done=has_all(want))
        assert by_id(statements(got, "statement")) == by_id(want)
        assert web_json(port, "/stream-app/health/")["waiting"] == []
        dead = stack.read("dead_letter", 1, timeout=3, settle=1.0)
        assert {d["stage"] for d in dead} <= {"transform"}, [(d["stage"], d["reason"]) for d in dead]
    finally:
        registry.stop()

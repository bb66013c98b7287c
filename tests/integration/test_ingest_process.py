"""The ingest process beside a real worker: its own username index, a crash of it, a stop, and the in-loop mode.

With `STREAM_APP_INGEST_PROCESS=true` a worker routes the tracking topic in a
process of its own (`stream_app.ingestproc`); the other integration tests run
the default, routing on the worker's loop. These tests check what only the
process does: it reads the username index from the `usernames` changelog
before routing, the worker starts it again when it dies and loses nothing, it
stops with the worker; and that routing on the worker's loop gives the CLI's
output.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

from stream_app.devstack.processes import Proc
from stream_app.kafka import actor_partition
from tests.integration.stack import Stack, wait_until, web_json
from tests.integration.test_topology import (
    CDC,
    EVENTS,
    by_id,
    cli_output,
    has_all,
    scrape,
    statements,
    wait_for_cdc,
)


def ingest_pids(worker: Proc) -> list[int]:
    """The worker's child processes (its ingest process)."""
    pids = []
    for task in Path(f"/proc/{worker.popen.pid}/task").iterdir():
        pids += [int(pid) for pid in (task / "children").read_text().split()]
    return pids


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def routed(stack: Stack) -> list[tuple[int, list[object]]]:
    """Every entry on events-by-actor, with the partition it was written to."""
    name = stack.specs["events_by_actor"].name
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        out = []
        for message in consumer.consume(1000, 3.0):
            if message.error() is None:
                out += [(message.partition(), entry) for entry in orjson.loads(message.value())]
        return out
    finally:
        consumer.close()


def test_an_event_named_only_by_username_is_routed_to_its_user_by_the_index_read_before_routing(
        stack: Stack) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_INGEST_PROCESS="true")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/usernames/learner3/")["value"] == "3")
    worker.stop()
    # A new worker: its ingest process has only the changelog to learn `learner3` from, and reads it first.
    worker, port = stack.start_worker("w2", STREAM_APP_INGEST_PROCESS="true")
    event = orjson.loads(EVENTS[0])
    del event["context"]["user_id"]
    event["username"] = "learner3"
    stack.produce_tracking([orjson.dumps(event)])
    entries = wait_until(lambda: routed(stack), timeout=30)
    partitions = stack.specs["events_by_actor"].partitions or 4
    assert [(partition, entry[0]) for partition, entry in entries] == [(actor_partition("3", partitions), "3")]
    wait_until(lambda: web_json(port, "/stream-app/health/")["counts"].get("out:xapi"), timeout=30)


def test_a_killed_ingest_process_is_started_again_and_nothing_is_lost(stack: Stack, tmp_path: Path) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_INGEST_PROCESS="true")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    half = len(EVENTS) // 2
    stack.produce_tracking(EVENTS[:half])
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    wait_until(lambda: web_json(port, "/stream-app/health/")["counts"].get("routed"), timeout=30)
    (first,) = ingest_pids(worker)
    offset = worker.log.stat().st_size
    os.kill(first, signal.SIGKILL)  # a crash: nothing committed past what was stored
    worker.wait_for_log("exited by itself", after=offset)
    stack.produce_tracking(EVENTS[half:])
    got = stack.read("xapi", len(want), timeout=90, done=has_all(want))
    got_by_id = by_id(statements(got, "statement"))
    assert {k: got_by_id.get(k) for k in by_id(want)} == by_id(want)  # repeats allowed, nothing missing
    assert web_json(port, "/stream-app/health/")["counts"]["ingest:restarted"] == 1
    assert "stream_app_ingest_restarts_total 1.0" in scrape(port)
    (second,) = ingest_pids(worker)
    assert second != first
    # A stopping worker stops its ingest process (which commits and leaves the group) before it exits.
    assert worker.stop() == 0
    assert not alive(second)


def test_routing_on_the_worker_s_loop_gives_the_same_output(stack: Stack, tmp_path: Path) -> None:
    worker, port = stack.start_worker("w1", STREAM_APP_INGEST_PROCESS="false")
    assert ingest_pids(worker) == []
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    stack.produce_tracking(EVENTS)
    want = cli_output("xapi", CDC, EVENTS, tmp_path)
    got = stack.read("xapi", len(want))
    assert by_id(statements(got, "statement")) == by_id(want)
    assert len(got) == len(want)
    counts = web_json(port, "/stream-app/health/")["counts"]
    assert sum(n for name, n in counts.items() if name.startswith("in:")) == len(EVENTS)  # each counted once

"""Operator commands on the real embedded broker: backfill, replay, load generation and lag.

Every command runs as the console script an operator would type, configured
through `STREAM_APP_*` variables that point at the test's isolated topics (see
`stack.py`); workers are real `faust -A stream_app worker` processes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition

from stream_app.codecs.avro import AvroDecoder, registry_client
from stream_app.devstack import seed
from stream_app.devstack.ralph import Ralph
from stream_app.kafka import ensure_topics
from tests.integration.stack import Stack, wait_until, web_json
from tests.integration.test_topology import CDC, EVENTS

STREAM_APP = str(Path(sys.executable).with_name("stream-app"))


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, broker: str, registry: str) -> Iterator[Stack]:
    s = Stack(tmp_path, broker, registry, request.node.name[:20].replace("_", "-"),
              STREAM_APP_EXTERNAL_ID_GRACE="1s")
    try:
        yield s
    finally:
        s.stop_all()


def run(stack: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `stream-app ARGS` against the stack's broker, registry and topics."""
    env = {**os.environ, **stack.env, "STREAM_APP_BROKER": f"kafka://{stack.bootstrap}",
           "STREAM_APP_SCHEMA_REGISTRY_URL": stack.registry_url, "STREAM_APP_BROKER_FLAVOR": "tansu"}
    result = subprocess.run([STREAM_APP, *args], env=env, capture_output=True, text=True, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"stream-app {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def records(stack: Stack, key: str, expected: int, timeout: float = 60.0) -> list[tuple[int, int, int, Any]]:
    """(partition, offset, timestamp ms, value) of a topic's records once `expected` arrived (+1 s to settle)."""
    name = stack.specs[key].name
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "session.timeout.ms": 6000, "enable.auto.commit": False})
    decoder = AvroDecoder(registry_client(stack.registry_url), name) if stack.specs[key].value == "avro" else None
    out: list[tuple[int, int, int, Any]] = []
    try:
        partitions = list(consumer.list_topics(name, timeout=10).topics[name].partitions)
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        deadline, settled = time.monotonic() + timeout, None
        while time.monotonic() < deadline and (settled is None or time.monotonic() - settled < 1.0):
            for message in consumer.consume(500, timeout=0.5):
                value = message.value()
                if message.error() or value is None:
                    continue
                decoded = decoder.decode(value) if decoder else value
                out.append((message.partition() or 0, message.offset() or 0, message.timestamp()[1], decoded))
            if len(out) >= expected and settled is None:
                settled = time.monotonic()
        return out
    finally:
        consumer.close()


def expected_ids(events: list[bytes], tmp: Path) -> set[str]:
    """Statement ids `stream-app transform` makes of these events with the sample CDC seed."""
    seed, source = tmp / f"seed-{uuid.uuid4().hex}.jsonl", tmp / f"events-{uuid.uuid4().hex}.jsonl"
    seed.write_bytes(b"\n".join(orjson.dumps(r) for r in CDC) + b"\n")
    source.write_bytes(b"\n".join(events) + b"\n")
    out = subprocess.run([sys.executable, "-m", "stream_app", "transform", "--format", "xapi", "--cdc", str(seed),
                          "--input", str(source)], check=True, capture_output=True).stdout
    return {orjson.loads(line)["id"] for line in out.splitlines()}


def counts(port: int) -> dict[str, int]:
    return dict(web_json(port, "/stream-app/health/")["counts"])


def test_load_gzip_log_produces_every_good_event_once_in_order_and_reports_bad_lines(
        stack: Stack, tmp_path: Path) -> None:
    # One learner's events must keep their order: give every event the same two actors, alternating.
    lines: list[bytes] = []
    bad_at: dict[int, str] = {}
    for i, raw in enumerate(EVENTS * 3):
        event = json.loads(raw)
        event["username"] = f"learner{i % 2}"  # the key `load` partitions by
        event["index"] = i
        lines.append(orjson.dumps(event))
        if i % 25 == 7:
            lines.append(b'{"name": "truncated", "context": {')
            bad_at[len(lines)] = "invalid_json"
        if i % 50 == 30:
            lines.append(b'["an", "array"]')
            bad_at[len(lines)] = "invalid_event:not_an_object"
    log = tmp_path / "tracking.log-20260101.gz"
    log.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    rejects = tmp_path / "rejects.jsonl"
    result = run(stack, "load", "--rejects", str(rejects), str(log))
    good = len(EVENTS) * 3
    for line, reason in bad_at.items():
        assert f"{log}:{line}: {reason}" in result.stderr
    assert [(r["line"], r["reason"]) for r in map(orjson.loads, rejects.read_bytes().splitlines())] == sorted(
        bad_at.items())
    assert f"events produced: {good}; bad lines: {len(bad_at)}" in result.stderr

    got = records(stack, "tracking", good)
    indexes = [json.loads(value)["index"] for _, _, _, value in got]
    assert sorted(indexes) == list(range(good))  # every good event, once
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for (partition, offset, _, _), index in zip(got, indexes, strict=True):
        by_partition.setdefault(partition, []).append((offset, index))
    for pairs in by_partition.values():  # in file order within each partition (each actor's partition)
        in_offset_order = [index for _, index in sorted(pairs)]
        assert in_offset_order == sorted(in_offset_order)


def test_replay_to_a_time_re_emits_exactly_the_statements_of_later_events(stack: Stack, tmp_path: Path) -> None:
    worker, port = stack.start_worker("w1", data_dir=tmp_path / "d1")
    stack.produce_cdc(CDC)
    wait_until(lambda: counts(port).get("users:auth_user", 0) == 20
               and counts(port).get("users:external_user_ids_externalid", 0) == 32)
    wait_until(lambda: web_json(port, "/stream-app/tables/")["courses"] == 4)
    before, after = EVENTS[:40], EVENTS[40:]
    want_before, want_after = expected_ids(before, tmp_path), expected_ids(after, tmp_path)
    (tmp_path / "before.log").write_bytes(b"\n".join(before) + b"\n")
    (tmp_path / "after.log").write_bytes(b"\n".join(after) + b"\n")

    run(stack, "load", str(tmp_path / "before.log"))
    first = records(stack, "xapi", len(want_before))
    assert {r["event_id"] for *_, r in first} == want_before
    replay_from = datetime.now(UTC)  # every record of `before` was produced earlier: its statements are out
    run(stack, "load", str(tmp_path / "after.log"))
    records(stack, "xapi", len(want_before) + len(want_after))

    refused = run(stack, "replay", "--to-datetime", replay_from.isoformat(), check=False)
    assert refused.returncode != 0 and "stop every worker" in refused.stderr  # w1 is still running
    worker.stop()
    plan = run(stack, "replay", "--to-datetime", replay_from.isoformat(), "--dry-run").stdout
    assert f"records the group will read again: {len(after)}; records it will skip: 0" in plan
    assert "dry run: nothing changed" in plan
    run(stack, "replay", "--to-datetime", replay_from.isoformat())
    restarted_ms = int(time.time() * 1000)
    _, port2 = stack.start_worker("w2", data_dir=tmp_path / "d2")

    total = len(want_before) + 2 * len(want_after)
    again = [r for _, _, ts, r in records(stack, "xapi", total, timeout=90) if ts >= restarted_ms]
    missing = want_after - {r["event_id"] for r in again}
    assert not missing, (len(missing), counts(port2))
    assert sorted(r["event_id"] for r in again) == sorted(want_after)  # the same ids, each once, nothing earlier


def group_reads(stack: Stack, group: str, topic: str, expected: int, timeout: float = 60.0) -> list[tuple[int, int]]:
    """(partition, offset) of what `group` reads from its committed offsets, once `expected` arrived; commits."""
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group, "session.timeout.ms": 6000,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    out: list[tuple[int, int]] = []
    try:
        consumer.subscribe([topic])
        deadline, settled = time.monotonic() + timeout, None
        while time.monotonic() < deadline and (settled is None or time.monotonic() - settled < 1.0):
            for message in consumer.consume(100, timeout=0.5):
                if not message.error():
                    out.append((message.partition() or 0, message.offset() or 0))
            if len(out) >= expected and settled is None:
                settled = time.monotonic()
        consumer.commit(asynchronous=False)
        return sorted(out)
    finally:
        consumer.close()


def test_replay_moves_a_downstream_group_back_to_the_earliest_record_or_to_an_offset(stack: Stack) -> None:
    topic = stack.specs["xapi"].name
    ensure_topics(stack.bootstrap, [stack.specs["xapi"]], 4, 1)
    producer = seed.producer(stack.bootstrap, "tansu")
    for i in range(12):
        producer.produce(topic, key=f"k{i}".encode(), value=b"statement %d" % i, partition=i % 4)
    producer.flush(30)
    every = sorted((p, o) for p in range(4) for o in range(3))
    group = f"warehouse-{uuid.uuid4().hex[:6]}"
    assert group_reads(stack, group, topic, 12) == every  # a downstream consumer read it all and committed

    member = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group, "session.timeout.ms": 6000})
    member.subscribe([topic])
    wait_until(lambda: member.poll(0.5) is not None or member.assignment(), timeout=30)
    refused = run(stack, "replay", "--group", group, "--topic", "xapi", "--to-earliest", check=False)
    member.close()
    assert refused.returncode != 0 and "stop every worker" in refused.stderr

    plan = run(stack, "replay", "--group", group, "--topic", "xapi", "--to-earliest", "--dry-run").stdout
    assert "records the group will read again: 12" in plan and "dry run: nothing changed" in plan
    run(stack, "replay", "--group", group, "--topic", "xapi", "--to-earliest")
    assert group_reads(stack, group, topic, 12) == every
    run(stack, "replay", "--group", group, "--topic", topic, "--to-offset", "2")  # by name as well as by key
    assert group_reads(stack, group, topic, 4) == [(p, 2) for p in range(4)]


def test_loadgen_and_lag_report_end_to_end_percentiles(stack: Stack, ralph: Ralph) -> None:
    # 30 s of loadgen at 40 events/s while `lag` watches the output topic and, through the worker's
    # metrics, the statements stored in a real LRS.
    routers = stack.tmp / "routers.yaml"
    routers.write_text(yaml.safe_dump({"routers": [
        {"name": "lrs", "format": "xapi", "url": ralph.url, "batch": {"size": 100, "max_wait": "200ms"},
         "auth": {"type": "basic", "username": ralph.username, "password": ralph.password}}]}))
    stack.env["STREAM_APP_ROUTERS_FILE"] = str(routers)
    worker, port = stack.start_worker("w1")
    run(stack, "loadgen", "--cdc-only", "--users", "20", "--courses", "2")
    wait_until(lambda: counts(port).get("users:auth_user", 0) == 20
               and counts(port).get("users:external_user_ids_externalid", 0) == 40)
    env = {**os.environ, **stack.env, "STREAM_APP_BROKER": f"kafka://{stack.bootstrap}",
           "STREAM_APP_SCHEMA_REGISTRY_URL": stack.registry_url, "STREAM_APP_BROKER_FLAVOR": "tansu"}
    lag = subprocess.Popen([STREAM_APP, "lag", "--interval", "5s", "--idle", "8s", "--duration", "90s",
                            "--metrics", f"http://127.0.0.1:{port}"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert lag.stderr is not None
        assert "lag of" in lag.stderr.readline()  # assigned to the output topic: start producing
        generated = run(stack, "loadgen", "--no-cdc", "--rate", "40", "--duration", "30s", "--users", "20",
                        "--courses", "2", "--seed", "3")
        stdout, _ = lag.communicate(timeout=150)
    finally:
        if lag.poll() is None:
            lag.kill()
    sent = int(re.search(r"produced (\d+) events", generated.stderr).group(1))  # type: ignore[union-attr]
    assert sent > 100
    windows = [line for line in stdout.splitlines() if re.match(r"lag +\d", line)]
    assert windows, stdout
    total = re.search(r"lag total: n=(\d+), p50=([\d,]+) ms, p99=([\d,]+) ms, max=([\d,]+) ms", stdout)
    assert total, stdout
    n, p50, p99, peak = (int(g.replace(",", "")) for g in total.groups())
    assert n >= sent * 0.85  # a statement for nearly every event (a few names are outside the allow list)
    assert 0 <= p50 <= p99 <= peak
    assert sent >= 30 * 40 * 0.9  # a 30 s run
    assert len(windows) >= 5, stdout
    # → LRS: per interval and in total, for the router; every statement the worker emitted is in Ralph.
    assert re.search(r"^lrs +\d+\.\d s lrs: n=[\d,]+, p50≈[\d,]+ ms", stdout, re.M), stdout
    lrs_total = re.search(r"^lrs total lrs: n=([\d,]+), p50≈([\d,]+) ms, p99≈([\d,]+) ms", stdout, re.M)
    assert lrs_total, stdout
    delivered, lrs_p50, lrs_p99 = (int(g.replace(",", "")) for g in lrs_total.groups())
    assert delivered == n and len(ralph.statement_ids()) == n
    assert 0 <= lrs_p50 <= lrs_p99

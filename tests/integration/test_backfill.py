"""Backfills an operator can trust, on the embedded broker with real workers (docs/backfill.md).

- `stream-app load --dry-run` counts exactly what the real run refuses, an
  over-size line included (the producer's limit, and a topic's smaller
  `max.message.bytes` asked of the broker);
- old log lines without `name`: with the default rule (`event_type`) the worker
  transforms them and counts the failures only that fallback reached as dead
  letters of stage `legacy` on `/metrics` (what alert rules leave out); with `skip`
  it skips them as `no_name`. Statement counts are those tests/oldlogs.py documents.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from stream_app.kafka import ensure_topics
from tests.integration.stack import Stack, wait_until
from tests.integration.test_ops import run
from tests.integration.test_topology import CDC, wait_for_cdc
from tests.oldlogs import Line, bad_lines, corpus

SUMMARY = re.compile(r"events (?:produced|valid \(dry run, nothing produced\)): (\d+); "
                     r"bad lines: (\d+)(?: \(([^)]*)\))?")


def write_log(path: Path, lines: list[Line]) -> Path:
    path.write_bytes(gzip.compress(b"\n".join(line.raw for line in lines) + b"\n"))
    return path


def counts(stderr: str) -> tuple[int, int, str]:
    found = SUMMARY.search(stderr)
    assert found is not None, stderr
    return int(found[1]), int(found[2]), found[3] or ""


def topic_records(bootstrap: str, topic: str, idle: float = 3.0) -> int:
    """Records on a topic (read from the start until it is quiet for `idle` seconds)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen = 0
        while True:
            batch = consumer.consume(500, timeout=idle)
            if not batch:
                return seen
            seen += sum(1 for m in batch if m.error() is None)
    finally:
        consumer.close()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition `text` (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}")]))
        if got == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def test_dry_run_counts_exactly_what_the_real_run_refuses(stack: Stack, tmp_path: Path) -> None:
    tracking = stack.specs["tracking"]
    ensure_topics(stack.bootstrap, [tracking], 4, 1)
    log = write_log(tmp_path / "tracking.log-20150302.gz", corpus() + bad_lines())  # a 2 MB line among them
    dry = run(stack, "load", "--dry-run", "--rejects", str(tmp_path / "dry.jsonl"), str(log))
    real = run(stack, "load", "--rejects", str(tmp_path / "real.jsonl"), str(log))
    assert counts(dry.stderr) == counts(real.stderr) == (
        45, 3, "invalid_event:not_an_object=1, invalid_json=1, msg_size_too_large=1")
    assert (tmp_path / "dry.jsonl").read_bytes() == (tmp_path / "real.jsonl").read_bytes()
    assert "delivery failures: 0" in real.stderr
    # The embedded broker reports no max.message.bytes for a topic created without one: the producer's limit.
    assert "size limit: 1,000,000 bytes (producer message.max.bytes; the broker reports no max.message.bytes" \
        in dry.stderr
    assert topic_records(stack.bootstrap, tracking.name) == 45

    # A topic with a smaller limit than the producer's: the broker's answer is used, by both runs alike.
    small = f"{tracking.name}.small"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    for future in admin.create_topics([NewTopic(small, 1, 1, config={"max.message.bytes": "50000"})]).values():
        future.result(30)
    event = corpus()[0].event
    medium = orjson.dumps({**event, "event": "x" * 60_000})  # fits the producer, not the topic
    log = tmp_path / "tracking.log"
    log.write_bytes(b"\n".join([corpus()[0].raw, medium, corpus()[1].raw]) + b"\n")
    dry = run(stack, "load", "--topic", small, "--dry-run", str(log))
    real = run(stack, "load", "--topic", small, str(log))
    assert counts(dry.stderr) == counts(real.stderr) == (2, 1, "msg_size_too_large=1")
    assert f"{log}:2: msg_size_too_large" in dry.stderr and f"{log}:2: msg_size_too_large" in real.stderr
    assert f"size limit: 50,000 bytes (topic {small} max.message.bytes)" in real.stderr
    assert topic_records(stack.bootstrap, small) == 2


def transformed(fmt: str, rule: str, lines: list[Line], tmp: Path) -> list[dict[str, Any]]:
    """What `stream-app transform --nameless-events RULE` writes for these lines with the sample seed."""
    seed, source = tmp / "seed.jsonl", tmp / f"events-{fmt}.jsonl"
    seed.write_bytes(b"\n".join(orjson.dumps(r) for r in CDC) + b"\n")
    source.write_bytes(b"\n".join(line.raw for line in lines) + b"\n")
    out = subprocess.run([sys.executable, "-m", "stream_app", "transform", "--format", fmt, "--cdc", str(seed),
                          "--input", str(source), "--nameless-events", rule], check=True, capture_output=True).stdout
    return [orjson.loads(line) for line in out.splitlines()]


def distinct_ids(records: list[dict[str, object]]) -> set[object]:
    return {r["event_id"] for r in records}


@pytest.mark.parametrize("rule", ["event_type", "skip"])
def test_backfill_of_old_logs_counts_each_rule_as_documented(stack: Stack, tmp_path: Path, rule: str) -> None:
    stack.env["STREAM_APP_NAMELESS_EVENTS"] = rule
    _worker, port = stack.start_worker("w1")
    stack.produce_cdc(CDC)
    wait_for_cdc([port])
    lines = corpus()
    log = write_log(tmp_path / "tracking.log-20150302.gz", lines + bad_lines())
    loaded = run(stack, "load", str(log))
    assert counts(loaded.stderr)[:2] == (45, 3)
    assert f"lines without name: 36 (STREAM_APP_NAMELESS_EVENTS={rule}: " in loaded.stderr

    # The statements `stream-app transform` gives for the same lines under the same rule.
    want = {fmt: {s["id"] for s in transformed(fmt, rule, lines, tmp_path)} for fmt in ("xapi", "caliper")}
    expected = {"xapi": 27, "caliper": 30} if rule == "event_type" else {"xapi": 9, "caliper": 9}
    assert {fmt: len(ids) for fmt, ids in want.items()} == expected
    for fmt in ("xapi", "caliper"):
        got = stack.read(fmt, expected[fmt], done=lambda records, n=expected[fmt]: len(distinct_ids(records)) >= n)
        assert distinct_ids(got) == want[fmt]

    legacy = 15 if rule == "event_type" else 0

    def settled() -> str | None:
        text = scrape(port)
        skipped = {reason: metric(text, "stream_app_skipped_total", reason=reason)
                   for reason in ("no_name", "not_allowed")}
        done = metric(text, "stream_app_dead_letters_total", reason="missing_field", stage="legacy") == legacy
        # skip: every old line is no_name; event_type: the old lines no allow list wants are not_allowed.
        return text if done and skipped == ({"no_name": 36, "not_allowed": 0} if rule == "skip" else
                                            {"no_name": 0, "not_allowed": 9}) else None

    text = wait_until(settled, timeout=60)
    # Nothing of the old lines is a `transform` dead letter (what the sample alert rules look at).
    assert metric(text, "stream_app_dead_letters_total", reason="missing_field", stage="transform") == 0
    if rule == "event_type":
        stats = orjson.loads(run(stack, "dead-letter", "stats", "--stage", "legacy").stdout)
        assert list(stats) == ["stage:legacy"] and stats["stage:legacy"]["total"] == 15
        assert stats["stage:legacy"]["reasons"] == {"missing_field:context.referer": 9, "missing_field:data.id": 6}

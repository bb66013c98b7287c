"""Where a lost statement's event got to: its trail through the topics, for the message of a failing loss test.

A statement missing from the output topic after a crash was lost at one hop:
the tracking record was committed without its events-by-actor entry stored,
the entry was committed without its output (or its waiting record) stored, or
a waiting record was committed without its re-injected entry stored. `trail`
reads the tracking, events-by-actor and waiting topics and the groups'
committed offsets from the broker, and says for each missing statement where
its event was found and whether each hop's offset was committed past it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from stream_app.codecs.avro import AvroDecoder, registry_client
from tests.integration.stack import Stack


def read_all(bootstrap: str, topic: str, wait: float = 10.0) -> list[tuple[int, int, bytes]]:
    """Every record of a topic as (partition, offset, value); fails when the broker sends nothing for `wait`
    seconds before the end it reported. Read on until a second passes without a record: the embedded broker
    reports the end of a topic written in multi-record batches short (INFRA-NOTES, bug 1)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "trail", "enable.auto.commit": False})
    try:
        parts = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[tuple[int, int, bytes]] = []
        seen: dict[int, int] = defaultdict(int)
        while any(seen[p] < ends[p] for p in parts):
            message = consumer.poll(wait)
            assert message is not None, f"{topic} not read to its end"
            partition, offset = message.partition() or 0, message.offset() or 0
            if message.error() is None:
                seen[partition] = offset + 1
                out.append((partition, offset, message.value() or b""))
        while (message := consumer.poll(1.0)) is not None:
            if message.error() is None:
                out.append((message.partition() or 0, message.offset() or 0, message.value() or b""))
        return out
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return {tp.partition: tp.offset for tp in
                consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)}
    finally:
        consumer.close()


def entries_of(value: bytes) -> list[Any]:
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    if isinstance(items, dict):  # a waiting record
        items = [items.get("entry")]
    return [item for item in items if isinstance(item, list) and len(item) >= 4]


def trail(stack: Stack, events: list[bytes], missing: set[str], tmp: Path) -> str:
    """A line per missing statement: its event's index and name, and each hop's location and commit."""
    source = tmp / "trail-events.jsonl"
    source.write_bytes(b"\n".join(events) + b"\n")
    seed = tmp / "seed.jsonl"
    explain = subprocess.run(
        [sys.executable, "-m", "stream_app", "transform", "--format", "xapi", "--explain", "--input", str(source)]
        + (["--cdc", str(seed)] if seed.exists() else []),
        check=True, capture_output=True).stdout
    index_of: dict[str, tuple[int, str]] = {}
    for row_bytes in explain.splitlines():
        row = orjson.loads(row_bytes)
        for statement in row.get("output") or []:
            index_of[statement["id"]] = (row["index"], row.get("name"))
    app_id = stack.env["STREAM_APP_APP_ID"]
    names = {key: stack.specs[key].name for key in ("tracking", "events_by_actor", "waiting")}
    tracking = read_all(stack.bootstrap, names["tracking"])
    at_tracking = {value: (p, o) for p, o, value in tracking}
    hops: dict[str, dict[tuple[int, int], list[tuple[int, int, Any]]]] = {}
    partitions: dict[str, list[int]] = {}
    for key in ("events_by_actor", "waiting"):
        found: dict[tuple[int, int], list[tuple[int, int, Any]]] = defaultdict(list)
        records = read_all(stack.bootstrap, names[key])
        for p, o, value in records:
            for entry in entries_of(value):
                found[(entry[2], entry[3])].append((p, o, entry[4]))
        hops[key] = found
        partitions[key] = sorted({p for p, _o, _v in records} | set(range(stack.specs[key].partitions or 4)))
    tracking_parts = sorted({p for p, _o, _v in tracking})
    commits = {
        "tracking": committed(stack.bootstrap, f"{app_id}-ingest", names["tracking"], tracking_parts),
        "events_by_actor": committed(stack.bootstrap, app_id, names["events_by_actor"], partitions["events_by_actor"]),
        "waiting": committed(stack.bootstrap, app_id, names["waiting"], partitions["waiting"]),
    }
    dead: dict[tuple[int, int], list[str]] = defaultdict(list)
    for _p, _o, value in read_all(stack.bootstrap, stack.specs["dead_letter"].name):
        try:
            body = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue  # not a dead letter of ours: it names no event
        dead[(body.get("source_topic_partition"), body.get("source_offset"))].append(
            f"{body.get('stage')}/{body.get('reason')}")
    # The output topic read again: a statement found here was stored and only the test's reader missed it.
    decoder = AvroDecoder(registry_client(stack.registry_url), stack.specs["xapi"].name)
    stored = {orjson.loads(decoder.decode(value)["statement"])["id"]: (p, o)
              for p, o, value in read_all(stack.bootstrap, stack.specs["xapi"].name)}
    lines = [f"committed: {commits}"]
    for statement_id in sorted(missing):
        index, name = index_of.get(statement_id, (-1, "?"))
        where = at_tracking.get(events[index]) if index >= 0 else None
        line = f"{statement_id}: event {index} {name}; in xapi {stored.get(statement_id)}; tracking {where}"
        if where is not None:
            line += f" (committed to {commits['tracking'].get(where[0])})"
            for key in ("events_by_actor", "waiting"):
                line += f"; {key} " + (", ".join(
                    f"{p}@{o}{' held ' + str(meta.get('attempt')) if meta else ''}"
                    f" (committed to {commits[key].get(p)})" for p, o, meta in hops[key].get(where, [])) or "none")
            line += f"; dead letters {dead.get(where, [])}"
        lines.append(line)
    text = "\n".join(lines)
    print(text)  # whole in the failing test's captured output (an assertion message is cut short)
    return text

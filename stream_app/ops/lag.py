"""End-to-end lag: from an event's time to its statement's record in an output topic, with percentiles.

For each output record, lag = the record's Kafka timestamp (set by the worker's
producer when it emitted the statement) − the statement's event time (xAPI
`emission_time`, Caliper `event_time`: the tracking event's timestamp). With
events stamped as they are generated (`stream-app loadgen`), that is the time
from the LMS to the output topic. Only records produced after the monitor
started are counted, so a topic's history does not distort the figures.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from stream_app.codecs.avro import AvroDecoder, registry_client

TIME_FIELD = {"xapi": "emission_time", "caliper": "event_time"}
RESERVOIR = 100_000  # samples kept for the whole-run percentiles (uniform reservoir beyond that)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted samples (q in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def describe(samples: list[float]) -> str:
    """`n=…, p50=… ms, p99=… ms, max=… ms` for lag samples in seconds."""
    if not samples:
        return "n=0"
    ordered = sorted(samples)
    return (f"n={len(ordered)}, p50={percentile(ordered, 50) * 1000:,.0f} ms, "
            f"p99={percentile(ordered, 99) * 1000:,.0f} ms, max={ordered[-1] * 1000:,.0f} ms")


@dataclass
class LagStats:
    """Samples of the current window and a bounded sample of the whole run."""

    window: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    count: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, seconds: float) -> None:
        self.window.append(seconds)
        self.count += 1
        if len(self.total) < RESERVOIR:
            self.total.append(seconds)
        else:
            slot = self._random.randrange(self.count)
            if slot < RESERVOIR:
                self.total[slot] = seconds

    def take_window(self) -> list[float]:
        window, self.window = self.window, []
        return window


def _seconds(value: Any) -> float:
    # The Avro deserializer turns timestamp-micros into an aware datetime; raw longs are microseconds.
    return value.timestamp() if isinstance(value, datetime) else float(value) / 1e6


class LagMonitor:
    """Reads one output topic from its end and records the lag of every new statement record."""

    def __init__(self, bootstrap: str, registry_url: str, topic: str, fmt: str) -> None:
        self.field = TIME_FIELD[fmt]
        self.stats = LagStats()
        self.started_ms = int(time.time() * 1000)
        self._decoder = AvroDecoder(registry_client(registry_url), topic)
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stream-app-lag-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "session.timeout.ms": 6000})
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        # From the end; records older than our start (an end offset that lags, on the embedded broker) are skipped.
        self._consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])

    def poll(self, timeout: float) -> int:
        """Consume what is there (waiting up to `timeout`); return how many records were measured."""
        measured = 0
        for message in self._consumer.consume(500, timeout=timeout):
            value = message.value()
            if message.error() or value is None:
                continue
            produced_ms = message.timestamp()[1]
            if produced_ms < self.started_ms:
                continue
            record = self._decoder.decode(value)
            self.stats.add(produced_ms / 1000 - _seconds(record[self.field]))
            measured += 1
        return measured

    def close(self) -> None:
        self._consumer.close()

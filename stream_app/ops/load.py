"""Backfill: produce tracking-log lines to the tracking topic, in file order, reporting every bad line.

The fast path parses each line once with orjson only to check it is a JSON
object and to read its actor, then produces the line's own bytes (a syslog
prefix before the `{` is cut, as the transform CLI does, because the worker
parses record values as bare JSON). Records are keyed by actor (username,
else user id) with murmur2 — Java clients' partitioner — so each learner's
events stay in order in one partition; the worker re-keys by actor anyway, and
keyless records would be spread over partitions and lose that order. A bad line
(not JSON, not an object, too large for the broker) is reported with its file
and line number and the run goes on; so does an unreadable file. Every check is
made here, before producing, so `--dry-run` counts exactly what a real run
refuses: the size limit comes from the broker (see `ops.limits`). Lines without
`name` (old tracking logs) are counted: what the worker does with them is
`STREAM_APP_NAMELESS_EVENTS` (docs/backfill.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from stream_app.ops.limits import PRODUCER_MAX_BYTES, SizeLimit
from stream_app.ops.sources import OpenSource, Source, SourceError
from stream_app.transforms.normalise import named_by_event_type

PROGRESS_EVERY = 2048  # lines between progress callbacks: a callback per line would cost more than the parse


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that was not loaded: where it is, why, and (the start of) its text."""

    file: str
    line: int
    reason: str
    text: str

    def as_json(self) -> bytes:
        return orjson.dumps({"file": self.file, "line": self.line, "reason": self.reason, "text": self.text})


@dataclass(slots=True)
class LoadStats:
    """What a run did; `summary()` is the closing line operators read."""

    files: int = 0
    lines: int = 0
    events: int = 0
    bytes: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    nameless: int = 0  # good lines without `name` (named by their event_type, or skipped, by the worker)
    nameless_rule: str = "event_type"
    limit: SizeLimit | None = None

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        verb = "valid (dry run, nothing produced)" if self.dry_run else "produced"
        bad = sum(self.bad.values())
        detail = ", ".join(f"{reason}={n}" for reason, n in sorted(self.bad.items()))
        parts = [f"files: {self.files}", f"lines: {self.lines}", f"events {verb}: {self.events}",
                 f"bad lines: {bad}" + (f" ({detail})" if detail else "")]
        if not self.dry_run:
            parts.append(f"delivery failures: {self.failed}")
        parts.append(f"lines without name: {self.nameless}" + (f" ({NAMELESS[self.nameless_rule]})"
                                                              if self.nameless else ""))
        if self.limit is not None:
            parts.append(f"size limit: {self.limit.describe()}")
        parts.append(f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:,.0f} events/s)")
        return "; ".join(parts)


# What the worker does with lines without `name`, by STREAM_APP_NAMELESS_EVENTS (as read by this command).
NAMELESS = {
    "event_type": "STREAM_APP_NAMELESS_EVENTS=event_type: named by their event_type; their transform failures "
                  "are dead letters of stage legacy",
    "skip": "STREAM_APP_NAMELESS_EVENTS=skip: the worker skips them, counted as skipped no_name",
}


class Sink(Protocol):
    def send(self, value: bytes, key: bytes | None) -> None: ...

    def close(self) -> int: ...


class DryRun:
    """Counts instead of producing."""

    def send(self, value: bytes, key: bytes | None) -> None:
        return None

    def close(self) -> int:
        return 0


def producer_config(bootstrap: str, flavor: str) -> dict[str, Any]:
    """The backfill producer: large queues and batches for throughput, murmur2 keys, flavor workarounds."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "partitioner": "murmur2_random",
        "linger.ms": 20,
        "queue.buffering.max.messages": 200_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "delivery.report.only.error": True,
    }
    if flavor != "tansu":
        # Retries must not reorder a partition; the embedded broker's idempotence support is not trusted.
        config["enable.idempotence"] = True
    # Deliberately *not* `confluent_producer_options(flavor)`: on the embedded broker one record per batch
    # caps a backfill at ~5,000 lines/s (measured by benchmarks/load.py), and nothing reads the tracking
    # topic's end offsets (the broker's ListOffsets bug): Faust recovers tables from changelogs, not from
    # this topic, and `stream-app replay` scans partitions on that broker instead of asking for offsets.
    return config


class KafkaSink:
    """Produces to one topic; counts records the broker did not accept."""

    def __init__(self, bootstrap: str, topic: str, flavor: str, max_bytes: int = PRODUCER_MAX_BYTES) -> None:
        self.topic = topic
        self.failed = 0
        self.errors: Counter[str] = Counter()
        # The limit `load` checks lines against also bounds the producer's batches, so a batch of records
        # that each fit a topic's smaller `max.message.bytes` is not refused as a whole.
        self._producer = Producer({**producer_config(bootstrap, flavor), "message.max.bytes": max_bytes,
                                   "on_delivery": self._on_delivery})
        self._produce = self._producer.produce
        self._since_poll = 0

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self.errors[err.name()] += 1

    def send(self, value: bytes, key: bytes | None) -> None:
        while True:
            try:
                self._produce(self.topic, value, key)
                break
            except BufferError:
                # The local queue is full: let librdkafka deliver, then try again (back-pressure, not loss).
                self._producer.poll(0.05)
        self._since_poll += 1
        if self._since_poll >= 1000:
            self._producer.poll(0)
            self._since_poll = 0

    def close(self) -> int:
        remaining = self._producer.flush(60)
        return self.failed + remaining


class Pacer:
    """Sleeps so that `count` events take at least `count / rate` seconds (a steady rate, not bursts)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()

    def wait(self, count: int) -> None:
        if not self.rate:
            return
        ahead = self.started + count / self.rate - time.monotonic()
        if ahead > 0.005:
            time.sleep(ahead)


def _actor_key(obj: dict[str, Any]) -> bytes | None:
    # Tracking-log lines carry the username at the top; event-tracking dicts in the context.
    username = obj.get("username")
    context = obj.get("context")
    if not username and isinstance(context, dict):
        username = context.get("username") or context.get("user_id")
    if isinstance(username, (str, int)) and username != "":
        return str(username).encode()
    return None


TOO_LARGE = "msg_size_too_large"  # librdkafka's name for it, which the real run reported before this check


def check_line(line: bytes) -> tuple[bytes, bytes | None] | str | None:
    """(value to produce, key) for a good line, a reason for a bad one, None for a blank one."""
    checked = _parse(line)
    return (checked[0], _actor_key(checked[1])) if isinstance(checked, tuple) else checked


class LineChecker:
    """`check_line` plus the size limit, counting good lines without `name`; the one check of both paths."""

    def __init__(self, limit: SizeLimit | None = None) -> None:
        self.limit = limit
        self.nameless = 0

    def __call__(self, line: bytes) -> tuple[bytes, bytes | None] | str | None:
        checked = _parse(line)
        if not isinstance(checked, tuple):
            return checked
        text, obj = checked
        key = _actor_key(obj)
        if self.limit is not None and self.limit.refuses(text, key):
            return TOO_LARGE
        if named_by_event_type(obj):
            self.nameless += 1
        return text, key


def _parse(line: bytes) -> tuple[bytes, dict[str, Any]] | str | None:
    text = line.strip()
    if not text:
        return None
    if text[0] != 0x7B:  # "{"
        try:
            orjson.loads(text)
            return "invalid_event:not_an_object"
        except orjson.JSONDecodeError:
            start = text.find(b"{")
            if start < 0:
                return "invalid_json"
            text = text[start:]
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if type(obj) is not dict:
        return "invalid_event:not_an_object"
    return text, obj


def load(
    sources: Iterable[Source],
    sink: Sink,
    on_bad: Callable[[BadLine], None],
    on_progress: Callable[[int, int], None] | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    limit: SizeLimit | None = None,
    nameless_rule: str = "event_type",
) -> LoadStats:
    """Produce every good line of `sources` in order; `on_progress(bytes, events)` is called now and then.

    `limit`: lines whose record would be larger are bad lines (`msg_size_too_large`), dry run or not.
    """
    stats = LoadStats(dry_run=dry_run, limit=limit, nameless_rule=nameless_rule)
    check = LineChecker(limit)
    pacer = Pacer(rate)
    started = time.monotonic()
    done_bytes = 0
    for source in sources:
        stats.files += 1
        try:
            with OpenSource(source) as opened:
                for number, line in opened.lines():
                    stats.lines += 1
                    checked = check(line)
                    if type(checked) is tuple:
                        try:
                            sink.send(*checked)
                        except KafkaException as exc:
                            # Refused before sending (e.g. larger than message.max.bytes): a bad line, not a stop.
                            err = exc.args[0]
                            reason = err.name().lower() if isinstance(err, KafkaError) else "rejected"
                            _bad(stats, on_bad, source.name, number, reason, line)
                            continue
                        stats.events += 1
                        if rate:
                            pacer.wait(stats.events)
                    elif checked is not None:
                        _bad(stats, on_bad, source.name, number, str(checked), line)
                    if on_progress is not None and number % PROGRESS_EVERY == 0:
                        on_progress(done_bytes + opened.position(), stats.events)
        except SourceError as exc:
            _bad(stats, on_bad, source.name, exc.line, "unreadable_file", exc.message.encode())
        done_bytes += source.size
        if on_progress is not None:
            on_progress(done_bytes, stats.events)
    stats.failed = sink.close()
    stats.nameless = check.nameless
    stats.bytes = done_bytes
    stats.seconds = time.monotonic() - started
    return stats


def _bad(stats: LoadStats, on_bad: Callable[[BadLine], None], name: str, number: int, reason: str,
         line: bytes) -> None:
    stats.bad[reason] += 1
    on_bad(BadLine(name, number, reason, line[:500].decode("utf-8", "replace").rstrip("\r\n")))

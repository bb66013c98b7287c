"""Dead-letter statistics, re-driving dead letters and re-delivering a time range to one router.

All three read a topic from the broker and, to send records again, put them on
the router's first retry topic due at once: the router's retry agent delivers
them, and one that fails again continues along the chain to the dead-letter
topic. No separate delivery code runs in the CLI, so what a re-drive does is
exactly what the worker does. Dead letters of the event path (stages `parse`,
`enrich`, `transform`) are re-driven by producing their original event to the
tracking topic again, for example once a late user has arrived by CDC.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from stream_app import deadletter
from stream_app.compat import confluent_producer_options
from stream_app.delivery.chain import RetryMeta, chain_headers, headers_dict
from stream_app.delivery.routers import Router
from stream_app.errors import StreamAppError
from stream_app.kafka import bootstrap_servers
from stream_app.settings import Settings, parse_duration
from stream_app.topics import EVENT_HEADER, retry_topic, topics
from stream_app.transforms.normalise import normalise


class RedriveError(StreamAppError, RuntimeError):
    """A topic is missing or the broker did not confirm the records sent."""


AGES = ((3600.0, "<1h"), (86400.0, "<1d"), (7 * 86400.0, "<7d"))
# `legacy`: old log lines only the event_type fallback named, whose transformer failed (docs/backfill.md).
EVENT_STAGES = ("parse", "enrich", "transform", "output", "legacy")


def parse_when(text: str, now: float | None = None) -> float:
    """An ISO 8601 time (UTC unless it says otherwise) or a duration ago (`2h`, `30m`) → epoch seconds."""
    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)
    except (ValueError, TypeError):
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _consumer(settings: Settings) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap_servers(settings.broker),
                     "group.id": f"stream-app-cli-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                     "session.timeout.ms": 6000})


def read_topic(settings: Settings, name: str, since: float | None = None, idle: float = 2.0) -> Iterator[Message]:
    """Every record of a topic (from `since`, by record time, when given) up to its current end.

    The end is where the topic goes quiet for `idle` seconds: the embedded broker reports wrong
    high-water marks for multi-record batches, so they are not trusted.
    """
    consumer = _consumer(settings)
    try:
        metadata = consumer.list_topics(name, timeout=10).topics.get(name)
        if metadata is None or metadata.error is not None:
            raise RedriveError(f"topic {name} does not exist")
        partitions = [TopicPartition(name, p, 0) for p in metadata.partitions]
        if since is not None and settings.broker_flavor != "tansu":
            # (The embedded broker answers time lookups wrongly: there, read from the start and filter.)
            wanted = [TopicPartition(name, tp.partition, int(since * 1000)) for tp in partitions]
            found = consumer.offsets_for_times(wanted, timeout=10)
            partitions = [TopicPartition(name, tp.partition, tp.offset if tp.offset >= 0 else 0) for tp in found]
        consumer.assign(partitions)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            quiet_since = time.monotonic()
            yield message
    finally:
        consumer.close()


def dead_letters(settings: Settings) -> Iterator[tuple[Message, dict[str, Any]]]:
    """The dead-letter topic's records, decoded (undecodable ones are skipped)."""
    for message in read_topic(settings, topics().dead_letter.name):
        try:
            body = orjson.loads(message.value() or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(body, dict):
            yield message, body


def _age(record: dict[str, Any], now: float) -> str:
    try:
        seconds = now - datetime.fromisoformat(str(record.get("time"))).timestamp()
    except ValueError:
        return "unknown"
    return next((label for limit, label in AGES if seconds < limit), "older")


@dataclass
class Stats:
    """Dead-letter counts by router (or event-path stage), reason and age."""

    by_router: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_age: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, record: dict[str, Any], now: float) -> None:
        where = str(record.get("router") or f"stage:{record.get('stage')}")
        self.by_router[where] += 1
        self.by_reason[(where, str(record.get("reason")))] += 1
        self.by_age[(where, _age(record, now))] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            where: {
                "total": total,
                "reasons": {r: n for (w, r), n in sorted(self.by_reason.items()) if w == where},
                "ages": {a: n for (w, a), n in sorted(self.by_age.items()) if w == where},
            }
            for where, total in sorted(self.by_router.items())
        }


def selector(router: str | None, reason: str | None, since: float | None,
             stage: str) -> Callable[[dict[str, Any]], bool]:
    """Which dead-letter records a re-drive takes (reason: prefix match, e.g. `http_400` or `unknown_user`)."""
    def take(record: dict[str, Any]) -> bool:
        if record.get("stage") != stage:
            return False
        if router is not None and record.get("router") != router:
            return False
        if reason is not None and not str(record.get("reason", "")).startswith(reason):
            return False
        if since is not None:
            try:
                return datetime.fromisoformat(str(record.get("time"))).timestamp() >= since
            except ValueError:
                return False
        return True
    return take


class Resender:
    """Puts records on a router's first retry topic (due now), or events back on the tracking topic."""

    def __init__(self, settings: Settings) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap_servers(settings.broker),
                                   "partitioner": "murmur2_random",
                                   **confluent_producer_options(settings.broker_flavor)})
        self.sent: Counter[str] = Counter()

    def to_router(self, router: str, key: bytes | None, value: bytes, event: bytes | None) -> None:
        meta = RetryMeta(router, tier=1, due=time.time())
        name = retry_topic(topics(), router, 1).name
        self._send(name, key, value, chain_headers(event, meta))
        self.sent[router] += 1

    def to_tracking(self, value: bytes) -> None:
        self._send(topics().tracking.name, None, value, None)
        self.sent["tracking"] += 1

    def _send(self, name: str, key: bytes | None, value: bytes, headers: Any) -> None:
        while True:
            try:
                self._producer.produce(name, key=key, value=value, headers=headers)
                return
            except BufferError:
                self._producer.poll(0.1)

    def close(self) -> None:
        remaining = self._producer.flush(60)
        if remaining:
            raise RedriveError(f"{remaining} record(s) not confirmed by the broker")


def redrive(settings: Settings, routers: dict[str, Router], take: Callable[[dict[str, Any]], bool],
            dry_run: bool = False) -> Counter[str]:
    """Send the selected dead letters back: delivery ones to their router, event-path ones to tracking."""
    resender = Resender(settings)
    for _message, record in dead_letters(settings):
        if not take(record):
            continue
        value = deadletter.original_bytes(record)
        if value is None:
            # Too large to keep in the dead letter (`omitted`): the operator re-reads it from its source.
            reason = "original_omitted" if "original_b64" in (record.get("omitted") or ()) else "no_original"
            resender.sent[f"skipped:{reason}"] += 1
            continue
        if record.get("stage") == "deliver":
            name = str(record.get("router"))
            if name not in routers:
                resender.sent[f"skipped:unknown_router:{name}"] += 1
                continue
            event = record["event"].encode("utf-8") if isinstance(record.get("event"), str) else None
            key = record["key"].encode("utf-8") if isinstance(record.get("key"), str) else None
            if not dry_run:
                resender.to_router(name, key, value, event)
            else:
                resender.sent[name] += 1
        elif record.get("stage") in EVENT_STAGES:
            if not dry_run:
                resender.to_tracking(value)
            else:
                resender.sent["tracking"] += 1
    resender.close()
    return resender.sent


def redeliver(settings: Settings, router: Router, since: float, until: float | None,
              dry_run: bool = False) -> int:
    """Re-deliver the router's output-topic records of [since, until] that its match_params select."""
    resender = Resender(settings)
    count = 0
    for message in read_topic(settings, topics()[router.format].name, since=since):
        _kind, stamp = message.timestamp()
        if stamp / 1000 < since or (until is not None and stamp / 1000 > until):
            continue
        headers = headers_dict(message.headers())
        event = headers.get(EVENT_HEADER)
        if router.match_params:
            try:
                parsed = orjson.loads(event) if event else {}
                if not router.matches(normalise(parsed) if isinstance(parsed, dict) else {}):
                    continue
            except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
                continue
        value = message.value()
        if value is None:
            continue
        count += 1
        if not dry_run:
            resender.to_router(router.name, message.key(), value, event)
    resender.close()
    return count

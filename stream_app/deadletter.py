"""The dead-letter record: what failed, where, why, and the original bytes, as one JSON object.

Every agent's error boundary and the delivery chain write this shape to the
dead-letter topic, so `stream-app dead-letter` and the alert agent read one
format. The original value travels base64-encoded (exact bytes) and, when it
is UTF-8, also as text for people reading the topic. A record never grows past
what a broker accepts by default: when it would, the largest copies are left
out (the readable text first, the exact bytes last) and the record says which
were left out, so a huge input still leaves a visible dead letter.
`DeadLetters` is the writer every stage calls: it counts, logs and sends one
record through whatever channel it is given (a Faust topic in the worker, the
ingest process's own producer there).
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_app.logjson import log_fields

log = logging.getLogger("stream_app.agents")

# Under librdkafka's `message.max.bytes` (1,000,000) and Kafka's default record limit (1,048,588):
# a dead letter the broker refused would be a second failure with nowhere to go.
MAX_RECORD_BYTES = 900_000
LOG_EACH = 10  # dead letters per stage and reason logged one by one per `LOG_WINDOW`; the rest summed up
LOG_WINDOW = 60.0


def now_iso() -> str:
    """UTC now, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def record(
    stage: str,
    reason: str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
    event_name: str | None = None,
    **extra: Any,
) -> bytes:
    """Encode one dead-letter record."""
    text: str | None = None
    if value is not None:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    body: dict[str, Any] = {
        "stage": stage,
        "reason": reason,
        "event_name": event_name,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "original": text,
        "original_b64": base64.b64encode(value).decode("ascii") if value is not None else None,
        "time": now_iso(),
    }
    body.update(extra)
    encoded = orjson.dumps(body)
    if len(encoded) > MAX_RECORD_BYTES:
        encoded = _shrunk(body, len(value) if value is not None else None)
    return encoded


def _shrunk(body: dict[str, Any], original_size: int | None) -> bytes:
    """`body` without its largest fields, dropped in order until it fits, naming them in `omitted`."""
    sizes = {key: len(orjson.dumps(item)) for key, item in body.items()}
    # The readable copy goes first (the base64 holds the same bytes), the exact original last.
    others = sorted((key for key in body if key not in ("original", "original_b64")), key=lambda k: -sizes[k])
    order = ["original", *[key for key in others if sizes[key] > 1024], "original_b64"]
    body = {**body, "omitted": [], "original_size": original_size}
    encoded = orjson.dumps(body)
    for key in order:
        if len(encoded) <= MAX_RECORD_BYTES:
            break
        if body.get(key) is not None:
            body[key] = None
            body["omitted"].append(key)
            encoded = orjson.dumps(body)
    return encoded


def original_bytes(dead: dict[str, Any]) -> bytes | None:
    """The exact original value of a decoded dead-letter record."""
    encoded = dead.get("original_b64")
    return base64.b64decode(encoded) if encoded else None


class DeadLetters:
    """Writes dead-letter records (non-blocking), counts them by stage and reason, and logs them.

    Each is logged with its source, up to `LOG_EACH` per stage and reason in a minute; the rest of
    that minute's are summed up in one line, written with the next dead letter after it (the topic
    holds each one, the counters count each one). A log line cost the worker ~0.7 ms: a burst of a
    bad course's events spent more on logging than on the events, and buried every other line.
    """

    def __init__(self, channel: Any, counts: Counter[str], tracking_topic: str) -> None:
        self._channel = channel
        self._counts = counts
        self._tracking = tracking_topic
        self._logged: Counter[tuple[str, str]] = Counter()  # this minute's, by stage and reason class
        self._window_ends = 0.0
        self._window_began = ""

    def __call__(self, stage: str, reason: str, message: Any | None = None, value: bytes | None = None,
                 **extra: Any) -> None:
        """Send one record: `message` (a Faust message, or anything with topic/partition/offset/key/value)
        names where it was read; records of the event path name their tracking partition and offset."""
        kind = reason.split(":", 1)[0]
        self._counts[f"dead_letter:{stage}:{kind}"] += 1
        body = record(stage, reason, key=getattr(message, "key", None),
                      value=value if value is not None else getattr(message, "value", None),
                      topic=getattr(message, "topic", None), partition=getattr(message, "partition", None),
                      offset=getattr(message, "offset", None), **extra)
        if self._to_log(stage, kind):
            self._log(stage, reason, message, extra)
        self._send(body)

    def _to_log(self, stage: str, kind: str) -> bool:
        now = time.monotonic()
        if now >= self._window_ends:
            self._sum_up()
            self._window_ends, self._window_began = now + LOG_WINDOW, now_iso()
        self._logged[(stage, kind)] += 1
        return self._logged[(stage, kind)] <= LOG_EACH

    def _sum_up(self) -> None:
        for (stage, kind), count in sorted(self._logged.items()):
            if count > LOG_EACH:
                log.warning("dead-letter stage=%s reason=%s: %d more in the minute from %s, not logged one by "
                            "one (the dead-letter topic holds each)", stage, kind, count - LOG_EACH,
                            self._window_began, extra={"stage": stage, "reason": kind})
        self._logged.clear()

    def _log(self, stage: str, reason: str, message: Any | None, extra: dict[str, Any]) -> None:
        where = {"topic": getattr(message, "topic", None), "partition": getattr(message, "partition", None),
                 "offset": getattr(message, "offset", None)}
        if where["topic"] is None:
            where = {"topic": self._tracking, "partition": extra.get("source_topic_partition"),
                     "offset": extra.get("source_offset")}
        event_name = extra.get("event_name")
        log.warning("dead-letter stage=%s reason=%s event=%s topic=%s partition=%s offset=%s", stage, reason,
                    event_name, where["topic"], where["partition"], where["offset"],
                    extra={"stage": stage, "reason": reason,
                           **log_fields(event_name, where["topic"], where["partition"], where["offset"])})

    def _send(self, body: bytes) -> None:
        self._channel.send_soon(key=None, value=body)

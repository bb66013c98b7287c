"""The largest record a backfill may produce: the smaller of the producer's and the topic's limits.

`stream-app load` checks every line against this limit itself, before producing
and in `--dry-run` alike, so both count an over-size line the same way. The
producer's limit is librdkafka's `message.max.bytes` (1,000,000 unless set);
the topic's is its `max.message.bytes`, asked of the broker with
DescribeConfigs. Brokers that cannot answer (unreachable, no permission, or the
embedded broker, which lists only the settings a topic was created with) leave
the producer's limit, and the summary says where the limit came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]  # from ._config

PRODUCER_MAX_BYTES = 1_000_000  # librdkafka's default `message.max.bytes`; the backfill producer sets it
# A record's size on the wire beyond key and value, rounded up: librdkafka adds at most 36 bytes to a record
# when it checks `message.max.bytes`, and a broker counts the 61-byte batch header against `max.message.bytes`.
RECORD_OVERHEAD = 100
TOPIC_SETTING = "max.message.bytes"


@dataclass(frozen=True, slots=True)
class SizeLimit:
    """A record size limit in bytes, and where it comes from (for the summary line)."""

    max_bytes: int
    source: str

    def refuses(self, value: bytes, key: bytes | None) -> bool:
        """Whether a record of this value and key is larger than the limit."""
        return len(value) + (len(key) if key else 0) + RECORD_OVERHEAD > self.max_bytes

    def describe(self) -> str:
        return f"{self.max_bytes:,} bytes ({self.source})"


def producer_limit(note: str = "") -> SizeLimit:
    """The producer's own limit, with why the broker's was not used."""
    return SizeLimit(PRODUCER_MAX_BYTES, "producer message.max.bytes" + (f"; {note}" if note else ""))


def topic_limit(bootstrap: str, topic: str, timeout: float = 10.0) -> int | None:
    """The topic's `max.message.bytes` as the broker reports it; None when it does not say."""
    # Quiet: an unreachable broker is reported once, in the summary, not by librdkafka's connection logs.
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000), "log_level": 2})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout=timeout)
    entry = configs.get(TOPIC_SETTING)
    value = getattr(entry, "value", None)
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def size_limit(bootstrap: str, topic: str, timeout: float = 10.0) -> SizeLimit:
    """The limit a backfill to `topic` applies: the smaller of the topic's and the producer's."""
    try:
        found = topic_limit(bootstrap, topic, timeout)
    except Exception as exc:  # noqa: BLE001 — any failure to ask leaves the producer's limit, which always holds
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
        return producer_limit(f"the broker did not answer for topic {topic} ({reason[:120]})")
    if found is None:
        return producer_limit(f"the broker reports no {TOPIC_SETTING} for topic {topic}")
    if found < PRODUCER_MAX_BYTES:
        return SizeLimit(found, f"topic {topic} {TOPIC_SETTING}")
    return producer_limit()

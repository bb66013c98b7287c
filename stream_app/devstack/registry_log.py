"""Durable storage of the stand-in schema registry: one JSON record per registration in a compacted topic.

Like Confluent's own `_schemas` topic, the log is the registry's only storage:
`append` writes one registration and waits until the broker has it, and
`read_all` replays the whole topic from the beginning on start-up so that ids
survive a registry restart (on the embedded broker, which keeps topics in
memory, not a broker restart). The calls block (confluent-kafka is synchronous);
the HTTP layer runs them in a thread. One registry process per topic: two
writers could hand out the same id.
"""

from __future__ import annotations

import json
import logging
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from stream_app.devstack.registry_state import Registration
from stream_app.errors import StreamAppError
from stream_app.kafka import ensure_topics
from stream_app.topics import TopicSpec

log = logging.getLogger(__name__)

_PARTITION = 0
# librdkafka gives up on a message after this long and reports it to the delivery callback, so a
# registration that timed out is reported as failed and is not written later behind our back.
_DELIVERY_TIMEOUT_MS = 10_000


class RegistryStorageError(StreamAppError, RuntimeError):
    """The storage topic could not be read or written."""


class KafkaRegistryLog:
    """Appends registrations to, and replays them from, partition 0 of one topic."""

    def __init__(self, bootstrap: str, spec: TopicSpec, *, read_timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.topic = spec.name
        self._spec = spec
        self._read_timeout = read_timeout
        self._producer: Producer | None = None

    def ensure_topic(self) -> None:
        """Create the storage topic as declared (1 partition, compacted) if missing: Tansu does not auto-create."""
        # Everything lives in partition 0: one partition keeps the registrations in order.
        if ensure_topics(self.bootstrap, [self._spec], default_partitions=1, replication=1):
            log.info("created schema storage topic %s", self.topic)

    def read_all(self) -> list[Registration]:
        """Every registration in the topic, in order."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                # librdkafka insists on a group id even for assign(); no group is joined and nothing is committed.
                "group.id": "stream-app-registry-replay",
                "enable.auto.commit": False,
            }
        )
        try:
            return self._replay(consumer)
        finally:
            consumer.close()

    def _replay(self, consumer: Consumer) -> list[Registration]:
        low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, _PARTITION), timeout=10.0)
        if high <= low:
            return []
        consumer.assign([TopicPartition(self.topic, _PARTITION, OFFSET_BEGINNING)])
        registrations: list[Registration] = []
        last = -1
        deadline = time.monotonic() + self._read_timeout
        # Read up to the end offset taken before starting: a compacted log may have gaps, but its last record stays.
        while last < high - 1:
            if time.monotonic() > deadline:
                raise RegistryStorageError(
                    f"timed out replaying {self.topic}: reached offset {last}, end offset is {high}"
                )
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                raise RegistryStorageError(f"reading {self.topic}: {error}")
            offset = message.offset()
            last = last if offset is None else offset
            registration = _parse(message)
            if registration is not None:
                registrations.append(registration)
        return registrations

    def append(self, registration: Registration) -> None:
        """Write one registration and return once the broker acknowledged it (raises RegistryStorageError)."""
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "acks": "all",
                    # Send at once, one record per batch: each registration is durable before the HTTP answer,
                    # and single-record batches keep Tansu's end offsets right (see INFRA-NOTES.md, bug 1).
                    "linger.ms": 0,
                    "batch.num.messages": 1,
                    "message.timeout.ms": _DELIVERY_TIMEOUT_MS,
                }
            )
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        value = json.dumps(registration.as_json()).encode()
        self._producer.produce(
            self.topic, key=registration.key.encode(), value=value, partition=_PARTITION, on_delivery=delivered
        )
        remaining = self._producer.flush(_DELIVERY_TIMEOUT_MS / 1000 + 5)
        if errors or remaining:
            reason = errors[0] if errors else "no acknowledgement"
            raise RegistryStorageError(f"could not store {registration.key} in {self.topic}: {reason}")

    def close(self) -> None:
        """Flush and drop the producer."""
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None


def _parse(message: Message) -> Registration | None:
    value = message.value()
    if value is None:
        return None  # a tombstone: nothing to restore (the registry never writes one)
    try:
        return Registration.from_json(json.loads(value))
    except ValueError as exc:
        # Refuse to start rather than skip: a skipped record could let a new schema reuse a published id.
        raise RegistryStorageError(f"bad record at offset {message.offset()} of {message.topic()}: {exc}") from exc

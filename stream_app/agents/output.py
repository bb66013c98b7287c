"""The output producer: Avro records to the xAPI and Caliper topics, batched, flushed before each ack.

Faust's own producer sends every record as its own batch on the embedded broker
(the workaround that keeps changelog high-water marks right), so one record
costs one round trip per partition; output records need no such care. They go
through a confluent-kafka producer that batches normally, and the enrich agent
flushes it before it moves on to the next message, so an input is acknowledged
(and its offset committed) only once its records are stored: at-least-once.
A record the broker refuses or times out is produced again; the agent waits
rather than acknowledging an event whose output is not stored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from stream_app.kafka import bootstrap_servers
from stream_app.settings import Settings

log = logging.getLogger(__name__)
Headers = list[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None


class OutputProducer:
    """A batching producer with a blocking-until-stored `flush`."""

    def __init__(self, settings: Settings) -> None:
        self._config = {
            "bootstrap.servers": bootstrap_servers(settings.broker),
            "linger.ms": 5,
            # The same key → partition mapping as Kafka's Java clients and Faust (murmur2).
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 500_000,
            "message.timeout.ms": 120_000,
        }
        self._client: Producer | None = None
        self._failed: list[tuple[str, bytes | None, bytes, Headers, int]] = []

    @property
    def _producer(self) -> Producer:
        # Connected on first use: importing the agent modules (tests, the CLI) opens no connection.
        if self._client is None:
            self._client = Producer(self._config)
        return self._client

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            log.warning("output record to %s not stored (%s): producing it again", message.topic(), error)
            value = message.value()
            if value is not None:
                partition = message.partition()
                self._failed.append((message.topic() or "", message.key(), value, message.headers(),
                                     -1 if partition is None else partition))

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: Headers = None,
                partition: int = -1) -> None:
        """Queue one record (waits for queue space when the local buffer is full); -1: partition by key."""
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, headers=headers, partition=partition,
                                       on_delivery=self._on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _flush_sync(self) -> None:
        while True:
            remaining = self._producer.flush(30)
            if remaining:
                log.warning("output producer: %d record(s) still unconfirmed after 30 s; waiting", remaining)
                continue
            if not self._failed:
                return
            failed, self._failed = self._failed, []
            for topic, key, value, headers, partition in failed:
                self.produce(topic, key, value, headers, partition)

    async def flush(self) -> None:
        """Return once every queued record is stored (re-producing failed ones)."""
        await asyncio.get_running_loop().run_in_executor(None, self._flush_sync)

    def close(self, *_: Any) -> None:
        """Flush what is left (worker shutdown)."""
        if self._client is not None:
            self._flush_sync()

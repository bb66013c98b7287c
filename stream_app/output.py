"""The output producer: Avro records to the xAPI and Caliper topics, batched, each batch's storage awaitable.

Faust's own producer sends every record as its own batch on the embedded broker
(the workaround that keeps changelog high-water marks right), so one record
costs one round trip per partition; output records need no such care. They go
through a confluent-kafka producer that batches normally. An agent either
awaits `flush` (every queued record stored) or, to keep working while the
broker stores a batch, opens a `Batch`, produces into it and awaits
`Batch.stored` later (the enrich agent acknowledges its input only then, in
order: see `InOrderAcks`). Either way an input is acknowledged (and its offset
committed) only once its records are stored: at-least-once. A record the
broker refuses or times out is produced again; nothing is acknowledged until
it is stored. A record no retry can store (too large, invalid) is replaced by a
dead letter in the same batch, so it neither stalls the agent nor vanishes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from stream_app import deadletter
from stream_app.delivery.chain import headers_dict
from stream_app.kafka import bootstrap_servers
from stream_app.logjson import event_name_of, log_fields
from stream_app.settings import Settings
from stream_app.topics import EVENT_HEADER, topics

log = logging.getLogger(__name__)
Headers = list[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None
Record = tuple[str, bytes | None, bytes, Headers, int]
Callback = Callable[[KafkaError | None, Message], None]
LINGER_MS = 50
# Refusals of the record itself: producing it again can only fail again.
PERMANENT = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE, KafkaError.INVALID_RECORD})


def refusal_reason(error: KafkaError | KafkaException) -> str:
    """The dead-letter reason of a refused record: `refused:<librdkafka error name>`."""
    if isinstance(error, KafkaException):
        error = error.args[0]
    return f"refused:{error.name() if isinstance(error, KafkaError) else type(error).__name__}"


class Batch:
    """Records produced together; `stored` resolves once the broker has stored every one of them.

    `sent` is counted by the producing (event-loop) thread, `delivered` by whichever thread serves
    delivery reports (the poller, or a flush in the executor: two may run at once, hence the
    lock); whichever side sees the last record resolves the future, on its event loop.
    """

    __slots__ = ("_closed", "_lock", "_loop", "delivered", "report", "sent", "stored")

    def __init__(self, loop: asyncio.AbstractEventLoop, report_for: Callable[[Batch], Callback]) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._closed = False
        self.sent = 0
        self.delivered = 0
        self.stored: asyncio.Future[None] = loop.create_future()
        self.report = report_for(self)  # the delivery report of this batch's records

    def on_delivered(self) -> None:
        """One record stored (called from the thread serving delivery reports)."""
        with self._lock:
            self.delivered += 1
            last = self._closed and self.delivered == self.sent
        if last:
            try:
                self._loop.call_soon_threadsafe(self._resolve)
            except RuntimeError:  # the loop is closed (worker shut down): nobody waits any more
                pass

    def close(self) -> asyncio.Future[None]:
        """No more records: the future resolves once all are stored (at once if none are pending)."""
        with self._lock:
            self._closed = True
            last = self.delivered == self.sent
        if last:
            self._resolve()
        return self.stored

    @property
    def complete(self) -> bool:
        """Closed, and every record stored (true before `stored` resolves on the loop)."""
        with self._lock:
            return self._closed and self.delivered == self.sent

    def _resolve(self) -> None:
        if not self.stored.done():
            self.stored.set_result(None)


class OutputProducer:
    """A batching producer with a blocking-until-stored `flush` and awaitable per-batch storage."""

    def __init__(self, settings: Settings, dead_letter_topic: str | None = None) -> None:
        self._dead_letter_topic = dead_letter_topic or topics().dead_letter.name
        self._config = {
            "bootstrap.servers": bootstrap_servers(settings.broker),
            # Fewer, fuller produce requests: nothing waits on a batch's storage but its acknowledgement
            # (see `Batch`), and each request costs the broker far more than its records (on the embedded
            # broker 50 ms instead of 5 ms halved its CPU per event; BENCHMARKS.md).
            "linger.ms": LINGER_MS,
            # The same key → partition mapping as Kafka's Java clients and Faust (murmur2).
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 500_000,
            "message.timeout.ms": 120_000,
        }
        self._client: Producer | None = None
        # Refused records (or their dead letters) with their batch, appended by the threads serving reports
        # and produced by the next poll or flush.
        self._failed: deque[tuple[Record, Batch | None]] = deque()
        self._report_plain = self._report(None)
        self._poller: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def _producer(self) -> Producer:
        # Connected on first use: importing the agent modules (tests, the CLI) opens no connection.
        if self._client is None:
            self._client = Producer(self._config)
        return self._client

    def _report(self, batch: Batch | None) -> Callback:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                if batch is not None:
                    batch.on_delivered()
                return
            partition = message.partition()
            record: Record = (message.topic() or "", message.key(), message.value() or b"", message.headers(),
                              -1 if partition is None else partition)
            if error.code() in PERMANENT:
                self._refused(record, error, batch)
            else:
                log.warning("output record to %s partition %s not stored (%s): producing it again", message.topic(),
                            partition, error, extra=log_fields(None, message.topic(), partition, None))
                self._failed.append((record, batch))
        return on_delivery

    def _refused(self, record: Record, error: KafkaError | KafkaException, batch: Batch | None) -> None:
        """A record no retry can store: queue a dead letter of its event in its place, in the same batch."""
        topic, key, value, headers, _partition = record
        if topic == self._dead_letter_topic:
            # Dead letters are bounded in size, so only a broker configured below Kafka's default limits gets here.
            log.error("dead-letter record refused (%s) and dropped: %s", error, value[:2000])
            if batch is not None:
                batch.on_delivered()
            return
        event = headers_dict(headers).get(EVENT_HEADER)
        name = event_name_of(event)
        log.error("output record of event %s to %s refused (%s): sending it to the dead-letter topic", name, topic,
                  error, extra=log_fields(name, topic, None, None, stage="output"))
        body = deadletter.record("output", refusal_reason(error), key=key,
                                 value=event if event is not None else value, output_topic=topic,
                                 output_size=len(value))
        self._failed.append(((self._dead_letter_topic, None, body, None, -1), batch))

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: Headers = None,
                partition: int = -1, batch: Batch | None = None) -> None:
        """Queue one record (waits for queue space when the local buffer is full); -1: partition by key.

        Raises KafkaException when the record cannot be queued at all (larger than the producer's
        `message.max.bytes`): it is then not part of `batch`, and the caller dead-letters its input.
        """
        if batch is None:
            self._send((topic, key, value, headers, partition), self._report_plain)
            return
        self._send((topic, key, value, headers, partition), batch.report)
        batch.sent += 1  # counted once queued: a record that raised above never gets a report

    def _send(self, record: Record, report: Callback) -> None:
        topic, key, value, headers, partition = record
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, headers=headers, partition=partition,
                                       on_delivery=report)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _retry_failed(self) -> None:
        while True:
            try:
                record, batch = self._failed.popleft()
            except IndexError:  # empty (the poller and a flush may both be here)
                return
            report = self._report_plain if batch is None else batch.report  # a batch's count is unchanged
            try:
                self._send(record, report)
            except KafkaException as exc:  # refused before queuing
                self._refused(record, exc, batch)

    def batch(self) -> Batch:
        """A new batch; serving its delivery reports in the background starts with the first one."""
        if self._poller is None:
            _ = self._producer  # created here, not raced for by the poller
            self._closing.clear()
            self._poller = threading.Thread(target=self._poll, name="output-producer-poll", daemon=True)
            self._poller.start()
        return Batch(asyncio.get_running_loop(), self._report)

    def _poll(self) -> None:
        # Delivery reports (and so `Batch.stored`) are served here while the event loop keeps working.
        while not self._closing.is_set():
            self._producer.poll(0.1)
            if self._failed:
                self._retry_failed()

    def _flush_sync(self) -> None:
        while True:
            remaining = self._producer.flush(30)
            if remaining:
                log.warning("output producer: %d record(s) still unconfirmed after 30 s; waiting", remaining)
                continue
            if not self._failed:
                return
            self._retry_failed()

    async def flush(self) -> None:
        """Return once every queued record is stored (re-producing failed ones)."""
        await asyncio.get_running_loop().run_in_executor(None, self._flush_sync)

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued, waiting at most `timeout` s, and stop serving reports (worker shutdown).

        Bounded, so a worker whose broker is gone still stops: inputs whose records were not
        confirmed were never acknowledged, and the next owner of their partitions reads them again.
        """
        if self._client is not None:
            remaining = self._producer.flush(timeout)
            if self._failed:  # refused ones: one more try
                self._retry_failed()
                remaining = self._producer.flush(timeout)
            if remaining:
                log.warning("output producer: %d record(s) unconfirmed at shutdown; their input will be read again",
                            remaining)
        self._closing.set()
        if self._poller is not None:
            self._poller.join(1.0)
            self._poller = None


class InOrderAcks:
    """Acknowledges batches of input once their output is stored, oldest first, while later ones are worked on.

    At most `in_flight` batches wait at once: `add` blocks beyond that, which holds the agent
    back when the broker falls behind instead of buffering without bound. Everything runs on
    the event loop: a batch's storage future wakes `release` there.
    """

    def __init__(self, in_flight: int) -> None:
        self._in_flight = in_flight
        self._pending: deque[tuple[Batch, Sequence[Any], Callable[[Any], Any]]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, batch: Batch, events: Sequence[Any], ack: Callable[[Any], Any]) -> None:
        """Close `batch`; `ack` each of `events` once it and every earlier batch are stored."""
        self._pending.append((batch, events, ack))
        batch.close().add_done_callback(lambda _future: self.release())
        while len(self._pending) > self._in_flight:
            await asyncio.shield(self._pending[0][0].stored)
            self.release()

    def release(self) -> None:
        """Acknowledge the stored batches at the front (also called at shutdown, after a flush)."""
        while self._pending and self._pending[0][0].complete:
            _batch, events, ack = self._pending.popleft()
            for event in events:
                try:
                    ack(event)
                except Exception:  # noqa: BLE001 — one event's bookkeeping must not stop the later acks
                    log.exception("acknowledging an input event failed")

"""Reading the tracking topic outside Faust's per-message path: a librdkafka consumer that routes in batches.

Faust spends a fraction of a millisecond of Python on every message it
consumes (its stream, event and acknowledgement bookkeeping), which held a
worker near 1,000 tracking events/s. The tracking topic is the one topic with a
record per event, so it is read here by a confluent-kafka consumer in its own
consumer group (`STREAM_APP_INGEST_GROUP`, default `<app id>-ingest`; Faust's
group uses another assignment protocol and cannot hold it). Each batch of up to
1,000 records is parsed, filtered and keyed by actor, and written to
`events-by-actor` as one message per target partition — the users table's
partition of the actor; several when that would pass `MESSAGE_BYTES`; each
says in its spans header where its events lie (`codecs.entries.message`) —
which the enrich agent consumes. Each event is parsed and normalised here, once: the
entries carry the normalised event (`codecs.entries`). A batch's offsets are
stored and committed (asynchronously, at once) only once those messages are
stored: at-least-once, as in the agents (after a crash the batches under way and
one whose commit was in flight are routed again; statement ids are
deterministic). In the ingest process the next batches are read and routed
while the broker stores earlier ones (`InOrderAcks`, at most `IN_FLIGHT`
waiting): waiting for each batch's storage bounded it at one broker round trip
per batch. The
consumer's blocking calls run in the executor; routing runs on an event loop: the worker's,
or (`STREAM_APP_INGEST_PROCESS`, the default) the ingest process's
(`stream_app.ingestproc`): routing takes a fifth of the worker loop's time, which the
enrich agent then has. Either
way `TrackingIngest` is the same, handed what it needs (`Parts`: the worker's context, or
the process's own counters, dead-letter writer and username index).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from stream_app.codecs.entries import SPANS_HEADER, Entry
from stream_app.codecs.entries import message as entries_message
from stream_app.codecs.registry import schemas_fetched
from stream_app.compat import confluent_consumer_options
from stream_app.kafka import bootstrap_servers
from stream_app.logjson import log_fields
from stream_app.output import Batch, InOrderAcks, OutputProducer, refusal_reason
from stream_app.pipeline import AvroTracking, route
from stream_app.settings import Settings
from stream_app.topics import Topics
from stream_app.transforms import Engine

if TYPE_CHECKING:  # the worker's types: the ingest process imports this module without the Faust app
    from stream_app.agents.enrich import Enricher
    from stream_app.context import Context

log = logging.getLogger(__name__)
BATCH = 1000
WITHIN = 0.05  # seconds a partial batch waits for more records
IN_FLIGHT = 4  # in the ingest process: routed batches the broker may still be storing while the next is read
# One events-by-actor message stays well under the 1 MB a producer or broker accepts by default: a batch of
# large events (problem submissions, open responses) is split, in order, into several messages.
MESSAGE_BYTES = 512_000


def messages(entries: list[Entry], limit: int = MESSAGE_BYTES) -> list[tuple[bytes, bytes, list[Entry]]]:
    """`entries` as events-by-actor messages (value, spans header, entries) of at most `limit` bytes (one entry
    may exceed it), in order."""
    value, spans = entries_message(entries)
    if len(value) <= limit or len(entries) == 1:
        return [(value, spans, entries)]
    half = len(entries) // 2
    return messages(entries[:half], limit) + messages(entries[half:], limit)


def in_label(name: str | None, known: frozenset[str]) -> str:
    """The `events_in` counter label of an event name: the name if a transformer knows it, else `_other`.

    Names come from the input: page views are named by their URL, so counting every name would grow
    the counters (and a Prometheus server's series) with every distinct URL a learner visits.
    """
    if name is None:
        return "_unnamed"  # unparseable: no name to tell
    return name if name in known else "_other"


class Parts(Protocol):
    """What routing uses: the worker's `Context` has it, and so has the ingest process's own."""

    settings: Settings
    topics: Topics
    engine: Engine
    formats: tuple[str, ...]
    counts: Counter[str]
    dead_letter: Any  # a `deadletter.DeadLetters`

    @property
    def registry(self) -> Any: ...


def tracking_parser(parts: Parts) -> Any:
    """How tracking values are decoded: JSON, or the event bus's Avro (`STREAM_APP_TRACKING_FORMAT`)."""
    if parts.settings.tracking_format != "event-bus-avro":
        return orjson.loads
    from stream_app.codecs.avro import AvroDecoder

    return AvroTracking(AvroDecoder(parts.registry, parts.topics.tracking.name))


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from, in the attribute form the dead-letter writer reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class TrackingIngest:
    """The tracking topic's consumer, its router and its per-partition lag."""

    def __init__(self, ctx: Parts, partition_of: Callable[[str], int], key_of: Callable[[str], str],
                 producer: OutputProducer | None = None, in_flight: int = 0) -> None:
        self.ctx = ctx
        self.partition_of = partition_of  # the enricher's: the users table's partition of an actor key
        self.key_of = key_of  # an actor key as routed: the user id where the username index knows the name
        self.parse = tracking_parser(ctx)
        self.tracking = ctx.topics.tracking.name
        self.events_by_actor = ctx.topics.events_by_actor.name
        self.lag: dict[tuple[str, int], int] = {}
        self._consumer: Consumer | None = None
        self._producer = producer  # made at `run` unless given (the ingest process's also carries its dead letters)
        self.batch: Batch | None = None  # the batch being routed (the ingest process's dead letters join it)
        # On the worker's loop each batch's storage is awaited before the next is read (0), as routing has always
        # done there; the ingest process routes ahead (`IN_FLIGHT`): see docs/development.md on its crash tests.
        self._acks = InOrderAcks(in_flight)
        # librdkafka must not close a consumer while another thread is inside its consume().
        self._busy = threading.Lock()
        self._joined = False

    def _open(self) -> Consumer:
        settings = self.ctx.settings
        consumer = Consumer({
            "bootstrap.servers": bootstrap_servers(settings.broker),
            "group.id": settings.tracking_group(),
            "auto.offset.reset": "earliest",
            # Offsets are stored by hand once a batch's output is stored; librdkafka commits what is stored.
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            **confluent_consumer_options(settings.broker_flavor),
        })
        consumer.subscribe([self.tracking], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("tracking consumer: joining group %r for %s", settings.tracking_group(), self.tracking)
        return consumer

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._joined = True
        log.info("tracking consumer: assigned %s", sorted(tp.partition for tp in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._joined = False  # a rebalance: joining again until the next assignment
        log.info("tracking consumer: revoked %s", sorted(tp.partition for tp in partitions))
        for tp in partitions:
            self.lag.pop((tp.topic, tp.partition), None)

    def route_batch(self, messages: list[Message]) -> dict[int, list[Entry]]:
        """Parse, filter and key a batch by actor; reject and count what cannot go on."""
        groups: dict[int, list[Entry]] = defaultdict(list)
        ctx, counts, dead_letter = self.ctx, self.ctx.counts, self.ctx.dead_letter
        engine, formats, parse, known = ctx.engine, ctx.formats, self.parse, ctx.engine.names
        for message in messages:
            value = message.value()
            partition, offset = message.partition() or 0, message.offset() or 0
            if value is None:
                counts["tracking:tombstone"] += 1
                continue
            try:
                result = route(value, engine, formats, parse)
                counts[f"in:{in_label(result.name, known)}"] += 1
                if result.reject:
                    dead_letter("parse", result.reject, self._source(message), event_name=result.name)
                elif result.skip:
                    counts[f"skipped:{result.skip}"] += 1
                else:
                    assert result.key is not None and result.parsed is not None
                    key = self.key_of(result.key)
                    groups[self.partition_of(key)].append(
                        Entry(key, result.parsed.event, partition, offset, None, result.parsed.fallback))
            except Exception as exc:  # noqa: BLE001 — one record's error boundary: the rest of the batch goes on
                log.exception("tracking consumer: routing failed at partition %s offset %s", partition, offset,
                              extra=log_fields(None, self.tracking, partition, offset))
                dead_letter("parse", f"internal_error:{type(exc).__name__}", self._source(message))
        return groups

    def _produce(self, producer: OutputProducer, partition: int, entries: list[Entry], batch: Batch | None) -> None:
        for value, spans, chunk in messages(entries):
            try:
                producer.produce(self.events_by_actor, None, value, [(SPANS_HEADER, spans)], partition=partition,
                                 batch=batch)
            except KafkaException as exc:  # an event too large for any message: dead-lettered, the rest go on
                for entry in chunk:
                    self.ctx.dead_letter("output", refusal_reason(exc), value=entry.original(),
                                source_topic_partition=entry.partition, source_offset=entry.offset,
                                output_topic=self.events_by_actor)
                continue
            self.ctx.counts["routed"] += len(chunk)

    def _source(self, message: Message) -> Source:
        # Built only for a rejected record: the hot path reads partition and offset alone.
        return Source(message.topic() or self.tracking, message.partition() or 0, message.offset() or 0,
                      message.key(), message.value())

    def _done(self, consumer: Consumer, messages: list[Message]) -> None:
        """Store the batch's next offsets for commit, and note each partition's lag."""
        last: dict[int, int] = {}
        for message in messages:
            last[message.partition() or 0] = message.offset() or 0
        offsets = [TopicPartition(self.tracking, p, o + 1) for p, o in last.items()]
        try:
            consumer.store_offsets(offsets=offsets)
            # Committed now, not at the next auto-commit: a crash routes again only the batch under way.
            consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            # Revoked meanwhile: the partition's next owner routes these records again (at-least-once).
            log.info("tracking consumer: offsets not stored (%s)", exc)
        for partition, offset in last.items():
            _low, high = consumer.get_watermark_offsets(TopicPartition(self.tracking, partition), cached=True)
            if high >= 0:
                self.lag[(self.tracking, partition)] = max(0, high - offset - 1)

    def _rewind(self, consumer: Consumer, messages: list[Message]) -> None:
        """Seek back to the batch's first record in each partition (nothing of it was committed)."""
        first: dict[int, int] = {}
        for message in messages:
            first.setdefault(message.partition() or 0, message.offset() or 0)
        with self._busy:
            for partition, offset in first.items():
                try:
                    consumer.seek(TopicPartition(self.tracking, partition, offset))
                except KafkaException as exc:  # revoked meanwhile: its next owner reads from the commit
                    log.info("tracking consumer: no seek on partition %s (%s)", partition, exc)

    def _consume(self, consumer: Consumer) -> list[Message]:
        with self._busy:
            return [] if self._consumer is None else consumer.consume(BATCH, WITHIN)

    async def run(self) -> None:
        """Consume, route and commit until the worker stops."""
        loop = asyncio.get_running_loop()
        consumer = self._consumer = await loop.run_in_executor(None, self._open)
        producer = self._producer = self._producer or OutputProducer(self.ctx.settings)
        counts = self.ctx.counts
        try:
            while True:
                messages = await loop.run_in_executor(None, self._consume, consumer)
                good = []
                for message in messages:
                    if message.error() is not None:
                        counts["tracking:consumer_error"] += 1
                        log.warning("tracking consumer: %s (partition %s)", message.error(), message.partition(),
                                    extra=log_fields(None, message.topic(), message.partition(), message.offset()))
                    else:
                        good.append(message)
                if not good:
                    continue
                if isinstance(self.parse, AvroTracking):  # event-bus Avro: schemas first met are fetched off the loop
                    await schemas_fetched(self.parse.decoder, (message.value() for message in good), counts)
                batch = self.batch = producer.batch()
                try:
                    for partition, entries in self.route_batch(good).items():
                        self._produce(producer, partition, entries, batch)
                except Exception:  # noqa: BLE001 — never stop reading: go back and route the batch again
                    counts["tracking:batch_retried"] += 1
                    first, last = good[0], good[-1]
                    log.exception("tracking consumer: batch of %d failed (from partition %s offset %s to partition %s "
                                  "offset %s); reading it again in 1 s", len(good), first.partition(),
                                  first.offset(), last.partition(), last.offset(),
                                  extra=log_fields(None, first.topic(), first.partition(), first.offset()))
                    await loop.run_in_executor(None, self._rewind, consumer, good)
                    await asyncio.sleep(1)
                    continue
                finally:
                    self.batch = None
                await self._acks.add(batch, [good], lambda stored: self._done(consumer, stored))
        finally:
            self.close()

    def close(self) -> None:
        """Commit what is stored and leave the group (worker shutdown)."""
        with self._busy:
            consumer, self._consumer = self._consumer, None
            if consumer is None:
                return
            if self._producer is not None:
                self._producer.close()
                self._acks.release()  # what the close stored is committed by the consumer's close
            if self.ctx.settings.broker_flavor == "tansu":
                # The embedded broker never forgets a member that leaves in the middle of a join (its first, or
                # one after a rebalance): the group then refuses every later member. Finish joining (records read
                # meanwhile are not committed, so the next owner reads them), then leave. (An ingest process
                # leaves as its worker dies; a worker's own consumer dying with it was only expired.)
                deadline = time.monotonic() + 10
                while not self._joined and time.monotonic() < deadline:
                    consumer.consume(BATCH, 0.1)
            consumer.close()


class Reader(Protocol):
    """The worker's tracking reader: the consumer itself, or the ingest process's supervisor."""

    lag: dict[tuple[str, int], int]

    async def run(self) -> None: ...


def register(ctx: Context, enricher: Enricher) -> Reader:
    """Make the worker's tracking reader, run as a Faust task once the worker is ready (tables recovered): the
    ingest process's supervisor (the default), or (`STREAM_APP_INGEST_PROCESS=false`) the consumer on this
    event loop."""
    # Imported here: the ingest process imports this module, and neither may reach the Faust app from it.
    reader: Reader
    if ctx.settings.ingest_process:
        from stream_app.ingestproc import IngestProcess

        reader = IngestProcess(ctx)
    else:
        from stream_app.tables.stream import routing_key

        reader = TrackingIngest(ctx, enricher.partition_of, routing_key)

    async def ingest_tracking() -> None:
        await reader.run()

    ctx.app.task(ingest_tracking)
    return reader

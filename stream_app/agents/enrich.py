"""The enrich agent: join routed events with their user and course, transform them, produce Avro records.

`agents.ingest` reads the LMS tracking topic, parses and normalises each event
once, rejects what cannot be parsed, skips what no allow list wants, and
re-keys the rest by actor onto `events-by-actor` — one message per target
partition per batch, the partition the `users` tables use for that key, so the
enrich agent finds the user in its local shard. Events whose user or course is
not known yet are held on the waiting topic (see `agents.waiting`). Each output
record carries its event in the `openedx.event` header, cut out of the message
where its spans header says (`codecs.entries`), not serialised again. Output
records go through the batching `OutputProducer`; the output schemas are
registered when the worker starts (`Encoders.ready`); a batch of input is
acknowledged once its records are stored, while the next batches are already
being worked on (`InOrderAcks`). `register` makes one `Enricher` per worker
from the worker's context; nothing happens at import.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import KafkaException

from stream_app import deadletter
from stream_app.codecs.avro import AvroEncoder
from stream_app.codecs.entries import SPANS_HEADER, Entry, cut, source_fields, spans
from stream_app.codecs.entries import decode as decode_entry
from stream_app.codecs.registry import until_answered
from stream_app.context import Context, log
from stream_app.delivery.chain import headers_dict
from stream_app.errors import TransformError
from stream_app.kafka import actor_partition
from stream_app.logjson import log_fields
from stream_app.output import Batch, Headers, InOrderAcks, OutputProducer, refusal_reason
from stream_app.pipeline import process
from stream_app.tables.dimensions import is_user_id
from stream_app.tables.stream import TableLookup, processing, put_user, users
from stream_app.topics import EVENT_HEADER

ENRICH_BATCH = 8  # events-by-actor messages per output batch (at full load each holds ~250 routed events)
ENRICH_WITHIN = 0.02  # seconds a partial batch waits for more messages
# Batches whose records the broker may still be storing while the agent works on the next: waiting for each
# batch's storage before the next left the worker idle for a broker round trip per batch. 8 rather than 4:
# the loop still waited on storage (4.3% of its samples in `select`); measured back to back, 6,954 events/s
# against 6,320 (16: no faster). A crash repeats at most (8 + 2) batches of this agent's input.
ENRICH_IN_FLIGHT = 8


class Encoders:
    """Avro encoders of the output formats, registered before the first batch (see `codecs.registry`)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._by_format: dict[str, AvroEncoder] = {}
        self._readying = asyncio.Lock()
        self._ready = False  # every output schema registered

    def _encoder(self, fmt: str) -> AvroEncoder:
        encoder = self._by_format.get(fmt)
        if encoder is None:
            spec = self._ctx.topics[fmt]
            assert spec.record is not None
            encoder = self._by_format[fmt] = AvroEncoder(self._ctx.registry, spec.name, spec.record)
        return encoder

    async def ready(self) -> None:
        """Register every output schema not registered yet; waits while the registry cannot answer.

        Called at worker start and before every batch (a no-op once done). The registry client is made
        in the executor: its TLS context loads the CA bundle, ~0.2 s the event loop would otherwise lose.
        """
        if self._ready:
            return
        async with self._readying:  # the start-up call and a first batch's may meet here
            await asyncio.get_running_loop().run_in_executor(None, lambda: self._ctx.registry)
            for fmt in self._ctx.formats:
                encoder = self._encoder(fmt)
                if not encoder.registered:
                    await until_answered(encoder.register, f"registering {encoder.subject}", self._ctx.counts,
                                         retry_refusals=True)
            self._ready = True

    def encode(self, fmt: str, record: dict[str, Any]) -> bytes:
        return self._encoder(fmt).encode(record)


class Enricher:
    """The enrich agent's state and work: output producer, encoders, in-order acknowledgements."""

    def __init__(self, ctx: Context, output: OutputProducer | None = None, encoders: Any = None,
                 lookup: Callable[[bool], Any] | None = None) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.output = output or OutputProducer(settings)
        self.encoders = encoders or Encoders(ctx)
        # One lookup per event (TableLookup over the tables), told whether it may generate external ids.
        self.lookup = lookup or (lambda may_generate: TableLookup(self.namespace, may_generate))
        self.acks = InOrderAcks(ENRICH_IN_FLIGHT)
        self.events_by_actor = ctx.channel(ctx.topics.events_by_actor)
        self.waiting = ctx.channel(ctx.topics.waiting)
        self.generated_ids = ctx.channel(ctx.topics.generated_external_ids)
        self.output_topics = {fmt: ctx.topics[fmt].name for fmt in ctx.formats}
        self.out_counts = {fmt: f"out:{fmt}" for fmt in ctx.formats}  # counter names, made once
        self.partitions = ctx.topics.events_by_actor.partitions or settings.partitions
        self.namespace = settings.external_id_namespace if settings.generate_external_ids else None
        self.published: set[tuple[str, str]] = set()  # generated ids this worker has published
        self.agent: Any = None  # the Faust agent (set by `register`)

    def partition_of(self, key: str) -> int:
        """The events-by-actor (and users table) partition of an actor key."""
        return actor_partition(key, self.partitions)

    def hold(self, entry: Entry, reason: str, stage: str = "enrich") -> None:
        """Park an event whose user or course is missing on the waiting topic (dead-letter it once expired)."""
        settings = self.ctx.settings
        meta = entry.meta or {"first": time.time(), "attempt": 0}
        body = self.ctx.topics.waiting.encode({"entry": entry.encode(), "meta": meta, "reason": reason,
                                               "due": time.time() + settings.late_dimension_retry})
        expired = time.time() - meta["first"] >= settings.late_dimension_wait
        # An event larger than a broker takes in one record cannot wait on the waiting topic either.
        if expired or len(body) > deadletter.MAX_RECORD_BYTES:
            note: dict[str, Any] = {} if expired else {"note": "too large to hold on the waiting topic"}
            self.ctx.dead_letter(stage, reason, attempts=meta["attempt"], first_seen=meta["first"],
                                 **source_fields(entry), **note)
            return
        self.waiting.send_soon(key=orjson.dumps(entry.key), value=body)
        self.ctx.counts["held"] += 1
        self.ctx.counts[f"held:{reason}"] += 1

    def _store_generated(self, key: str, generated: list[tuple[str, str, str]]) -> None:
        for user_id, id_type, value in generated:
            if is_user_id(key) and str(int(key)) == user_id:
                # This event's partition owns the user's record: keep the id with it.
                record = users.get(user_id)
                if record is not None and (record.get("generated") or {}).get(id_type) != value:
                    put_user(user_id, {**record, "generated": {**(record.get("generated") or {}), id_type: value}})
            if (user_id, id_type) not in self.published:
                self.published.add((user_id, id_type))
                self.generated_ids.send_soon(
                    key=orjson.dumps(f"{user_id}:{id_type}"),
                    value=self.ctx.topics.generated_external_ids.encode(
                        {"user_id": int(user_id) if user_id.isdigit() else user_id, "type": id_type,
                         "external_user_id": value}),
                )

    def enrich(self, message: Any, batch: Batch) -> None:
        """Enrich, transform and produce the events of one events-by-actor message into `batch`."""
        dead_letter = self.ctx.dead_letter
        try:
            items = self.ctx.topics.events_by_actor.decode(message.value)
        except orjson.JSONDecodeError:
            dead_letter("enrich", "invalid_json", message)
            return
        if not isinstance(items, list):
            dead_letter("enrich", "invalid_entry", message)
            return
        # Where each event's JSON lies in the value: cut out as its output records' event header.
        where = spans(headers_dict(message.headers).get(SPANS_HEADER), len(items))
        for i, item in enumerate(items):
            try:
                entry = decode_entry(item)
            except TransformError as exc:
                dead_letter("enrich", exc.reason, **source_fields(item))
                continue
            if where is not None:
                entry.raw = cut(message.value, where[i])
            try:
                self.enrich_one(entry, batch)
            except Exception as exc:  # noqa: BLE001 — the agent's one error boundary: never stop the stream
                name = entry.event.get("name")
                log.exception("enrich: internal error on event %s (tracking partition %s offset %s)", name,
                              entry.partition, entry.offset,
                              extra=log_fields(name, self.ctx.topics.tracking.name, entry.partition,
                                               entry.offset))
                dead_letter("enrich", f"internal_error:{type(exc).__name__}", event_name=name,
                            **source_fields(entry))

    def enrich_one(self, entry: Entry, batch: Batch) -> None:
        """Transform one routed event and produce its records (or hold or dead-letter it)."""
        ctx = self.ctx
        held_since = entry.meta["first"] if entry.meta else time.time()
        # Generating an id is allowed only once the event has waited the grace period (see TableLookup).
        lookup = self.lookup(time.time() - held_since >= ctx.settings.external_id_grace)
        outcome = process(entry.event, ctx.engine, lookup, ctx.formats, entry.fallback)
        if outcome.missing:
            # A line only the event_type fallback named, never found its user: stage legacy (nobody paged).
            self.hold(entry, outcome.missing, outcome.stage(outcome.missing_format or "", outcome.missing, "enrich"))
            return
        if lookup.generated:
            self._store_generated(entry.key, lookup.generated)
        if outcome.outputs:
            # The normalised event travels with each record, for the routers' match_params (serialised once).
            headers: Headers = [(EVENT_HEADER, entry.header())]
            for fmt, actor_id, record in outcome.outputs:
                try:
                    self.output.produce(self.output_topics[fmt], actor_id.encode("utf-8"),
                                        self.encoders.encode(fmt, record), headers, batch=batch)
                except KafkaException as exc:  # too large to produce at all: this format's record only
                    ctx.dead_letter("output", refusal_reason(exc), event_name=outcome.name, format=fmt,
                                    **source_fields(entry))
                    continue
                ctx.counts[self.out_counts[fmt]] += 1
        for fmt, reason in outcome.rejects:
            ctx.dead_letter(outcome.stage(fmt, reason), reason, event_name=outcome.name, format=fmt,
                            **source_fields(entry))

    def _release(self, event: Any) -> None:
        """Drop the reference `run` took on the message: now final, so its offset is committed soon."""
        if event.ack():
            self.ctx.app.sensors.on_message_out(event.message.tp, event.message.offset, event.message)
        self.ctx.commits.commit_soon((event.message.tp,))

    async def run(self, stream: Any) -> None:
        """Join each event with its user and course, transform it, and produce the output records.

        Messages are taken a batch at a time. Faust acknowledges each batch when the body moves on;
        an extra reference on every message keeps that from being final, and `acks` drops it once
        every record the batch produced is stored, so offsets are committed only past stored output.
        """
        try:
            async for events in stream.take_events(ENRICH_BATCH, within=ENRICH_WITHIN):
                await self.encoders.ready()  # once per start; a registry outage holds the batch, never dead-letters
                batch = self.output.batch()
                for event in events:
                    event.message.incref()
                    with processing(event):
                        self.enrich(event.message, batch)
                await self.acks.add(batch, events, self._release)
        finally:
            # Worker stopping: store what is queued and acknowledge it, so the commit at shutdown covers it.
            self.output.close()
            self.acks.release()


def register(ctx: Context) -> Enricher:
    """Make the worker's enricher and its `enrich_events` agent on `events-by-actor`."""
    enricher = Enricher(ctx)

    async def enrich_events(stream: Any) -> None:
        await enricher.run(stream)

    enricher.agent = ctx.app.agent(enricher.events_by_actor, name="enrich_events")(enrich_events)

    async def register_output_schemas() -> None:  # at start, so the first events wait for nothing
        await enricher.encoders.ready()

    ctx.app.task(register_output_schemas)
    return enricher

"""The enrich agent: join routed events with their user and course, transform them, produce Avro records.

`agents.ingest` reads the LMS tracking topic, rejects what cannot be parsed,
skips what no allow list wants, and re-keys the rest by actor onto
`events-by-actor` — one message per target partition per batch, the partition
the `users` tables use for that key, so `enrich_events` finds the user in its
local shard. Events whose user or course is not known yet are held on the
waiting topic (see `agents.waiting`). Output records go through the batching
`OutputProducer`; a batch of input is acknowledged once its records are stored,
while the next batches are already being worked on (`InOrderAcks`).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import orjson
from confluent_kafka import KafkaException

from stream_app import deadletter
from stream_app.agents.common import COMMITS, COUNTS, ENGINE, FORMATS, SETTINGS, dead_letter, log
from stream_app.application import app, topic
from stream_app.codecs.avro import AvroEncoder, registry_client
from stream_app.codecs.entries import Entry, source_fields
from stream_app.codecs.entries import decode as decode_entry
from stream_app.codecs.registry import until_answered
from stream_app.errors import TransformError
from stream_app.kafka import partition_for
from stream_app.logjson import log_fields
from stream_app.output import Batch, Headers, InOrderAcks, OutputProducer, refusal_reason
from stream_app.pipeline import AvroTracking, process
from stream_app.tables.stream import TableLookup, is_user_id, processing, put_user, users
from stream_app.topics import EVENT_HEADER, topics

events_by_actor = topic("events_by_actor")
waiting = topic("waiting")
generated_ids = topic("generated_external_ids")
OUTPUT_TOPICS = {fmt: topics()[fmt].name for fmt in FORMATS}
OUTPUT = OutputProducer(SETTINGS)
PARTITIONS = topics()["events_by_actor"].partitions or SETTINGS.partitions
_published: set[tuple[str, str]] = set()
ENRICH_BATCH = 8  # events-by-actor messages per output batch (at full load each holds ~250 routed events)
ENRICH_WITHIN = 0.02  # seconds a partial batch waits for more messages
# Batches whose records the broker may still be storing while the agent works on the next: waiting for each
# batch's storage before the next left the worker idle for a broker round trip per batch.
ENRICH_IN_FLIGHT = 4
ACKS = InOrderAcks(ENRICH_IN_FLIGHT)


class _Encoders:
    """Avro encoders of the output formats, registered before the first batch (see `codecs.registry`)."""

    def __init__(self) -> None:
        self._by_format: dict[str, AvroEncoder] = {}

    def _encoder(self, fmt: str) -> AvroEncoder:
        encoder = self._by_format.get(fmt)
        if encoder is None:
            spec = topics()[fmt]
            assert spec.record is not None
            client = registry_client(SETTINGS.schema_registry_url)
            encoder = self._by_format[fmt] = AvroEncoder(client, spec.name, spec.record)
        return encoder

    async def ready(self) -> None:
        """Register every output schema not registered yet; waits while the registry cannot answer."""
        for fmt in FORMATS:
            encoder = self._encoder(fmt)
            if not encoder.registered:
                await until_answered(encoder.register, f"registering {encoder.subject}", COUNTS,
                                     retry_refusals=True)

    def encode(self, fmt: str, record: dict[str, Any]) -> bytes:
        return self._encoder(fmt).encode(record)


ENCODERS = _Encoders()


def _tracking_parser() -> Any:
    if SETTINGS.tracking_format != "event-bus-avro":
        return orjson.loads
    from stream_app.codecs.avro import AvroDecoder

    return AvroTracking(AvroDecoder(registry_client(SETTINGS.schema_registry_url), topics()["tracking"].name))


PARSE = _tracking_parser()
LOOKUP = TableLookup(SETTINGS.external_id_namespace if SETTINGS.generate_external_ids else None)


@lru_cache(maxsize=100_000)
def partition_of(key: str) -> int:
    """The events-by-actor (and users table) partition of an actor key."""
    # Cached: aiokafka's murmur2 is pure Python (~10 µs), and the same learners recur all day.
    return partition_for(orjson.dumps(key), PARTITIONS)


def _hold(entry: Entry, reason: str, stage: str = "enrich") -> None:
    meta = entry.meta or {"first": time.time(), "attempt": 0}
    body = orjson.dumps({"entry": entry.encode(), "meta": meta, "reason": reason,
                         "due": time.time() + SETTINGS.late_dimension_retry})
    expired = time.time() - meta["first"] >= SETTINGS.late_dimension_wait
    # An event larger than a broker takes in one record cannot wait on the waiting topic either.
    if expired or len(body) > deadletter.MAX_RECORD_BYTES:
        note: dict[str, Any] = {} if expired else {"note": "too large to hold on the waiting topic"}
        dead_letter(stage, reason, attempts=meta["attempt"], first_seen=meta["first"], **source_fields(entry),
                    **note)
        return
    waiting.send_soon(key=orjson.dumps(entry.key), value=body)
    COUNTS["held"] += 1
    COUNTS[f"held:{reason}"] += 1


def _store_generated(key: str) -> None:
    for user_id, id_type, value in LOOKUP.generated:
        if is_user_id(key) and str(int(key)) == user_id:
            # This event's partition owns the user's record: keep the id with it.
            record = users.get(user_id)
            if record is not None and (record.get("generated") or {}).get(id_type) != value:
                put_user(user_id, {**record, "generated": {**(record.get("generated") or {}), id_type: value}})
        if (user_id, id_type) not in _published:
            _published.add((user_id, id_type))
            generated_ids.send_soon(
                key=orjson.dumps(f"{user_id}:{id_type}"),
                value=orjson.dumps({"user_id": int(user_id) if user_id.isdigit() else user_id, "type": id_type,
                                    "external_user_id": value}),
            )
    LOOKUP.generated.clear()


def _enrich(message: Any, batch: Batch) -> None:
    """Enrich, transform and produce the events of one events-by-actor message into `batch`."""
    try:
        items = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        dead_letter("enrich", "invalid_json", message)
        return
    if not isinstance(items, list):
        dead_letter("enrich", "invalid_entry", message)
        return
    for item in items:
        try:
            entry = decode_entry(item)
        except TransformError as exc:
            dead_letter("enrich", exc.reason, **source_fields(item))
            continue
        try:
            _enrich_one(entry, batch)
        except Exception as exc:  # noqa: BLE001 — the agent's one error boundary: never stop the stream
            source = source_fields(entry)
            name = entry.event.get("name")
            log.exception("enrich: internal error on event %s (tracking partition %s offset %s)", name,
                          entry.partition, entry.offset,
                          extra=log_fields(name, topics()["tracking"].name, entry.partition, entry.offset))
            dead_letter("enrich", f"internal_error:{type(exc).__name__}", event_name=name, **source)


def _enrich_one(entry: Entry, batch: Batch) -> None:
    held_since = entry.meta["first"] if entry.meta else time.time()
    LOOKUP.may_generate = time.time() - held_since >= SETTINGS.external_id_grace
    outcome = process(entry.event, ENGINE, LOOKUP, FORMATS, entry.fallback)
    if outcome.missing:
        LOOKUP.generated.clear()
        # A line only the event_type fallback named, never found its user: stage legacy (nobody paged).
        _hold(entry, outcome.missing, outcome.stage(outcome.missing_format or "", outcome.missing, "enrich"))
        return
    if LOOKUP.generated:
        _store_generated(entry.key)
    if outcome.outputs:
        # The normalised event travels with each record, for the routers' match_params (serialised once).
        headers: Headers = [(EVENT_HEADER, entry.header())]
        for fmt, actor_id, record in outcome.outputs:
            try:
                OUTPUT.produce(OUTPUT_TOPICS[fmt], actor_id.encode("utf-8"), ENCODERS.encode(fmt, record),
                               headers, batch=batch)
            except KafkaException as exc:  # too large to produce at all: this format's record only
                dead_letter("output", refusal_reason(exc), event_name=outcome.name, format=fmt,
                            **source_fields(entry))
                continue
            COUNTS[f"out:{fmt}"] += 1
    for fmt, reason in outcome.rejects:
        dead_letter(outcome.stage(fmt, reason), reason, event_name=outcome.name, format=fmt,
                    **source_fields(entry))


def _release(event: Any) -> None:
    """Drop the reference `enrich_events` took on the message: now final, so its offset is committed soon."""
    if event.ack():
        app.sensors.on_message_out(event.message.tp, event.message.offset, event.message)
    COMMITS.commit_soon((event.message.tp,))


@app.agent(events_by_actor, name="enrich_events")
async def enrich_events(stream: Any) -> None:
    """Join each event with its user and course, transform it, and produce the output records.

    Messages are taken a batch at a time. Faust acknowledges each batch when the body moves on;
    an extra reference on every message keeps that from being final, and `ACKS` drops it once
    every record the batch produced is stored, so offsets are committed only past stored output.
    """
    try:
        async for events in stream.take_events(ENRICH_BATCH, within=ENRICH_WITHIN):
            await ENCODERS.ready()  # once per start; a registry outage holds the batch, never dead-letters it
            batch = OUTPUT.batch()
            for event in events:
                event.message.incref()
                with processing(event):
                    _enrich(event.message, batch)
            await ACKS.add(batch, events, _release)
    finally:
        # Worker stopping: store what is queued and acknowledge it, so the commit at shutdown covers it.
        OUTPUT.close()
        ACKS.release()

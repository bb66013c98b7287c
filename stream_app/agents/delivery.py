"""Delivery agents: one per router on its output topic, one per retry tier, all on the same rules.

For every router of the routers file, `deliver-<router>` reads the xAPI or
Caliper output topic in batches (`batch.size`, `batch.max_wait`), keeps what
its `match_params` select (matched on the original event, carried in the
`openedx.event` header), and hands the batch to the router's `Deliverer`.
Each statement's outcome decides its way: delivered; retryable → the next
retry topic of that router with its history in headers; permanent, or out of
retries → the dead-letter topic with the history. `retry-<router>-<n>` agents
read the retry topics, wait until the head of the batch is due (delays are
constant per topic, so records are in due order) and deliver again, to that
router only. Retry and dead-letter records go through a batching producer that
is flushed before the batch is acknowledged: a statement is never acknowledged
before it is delivered or stored on the next topic (at-least-once; the LRS
treats repeats of a statement id as no-ops), and a settled batch's offsets are
committed at once (`agents.commits`), so a crash repeats only the batches in
flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from stream_app import deadletter
from stream_app.agents.commits import acknowledge
from stream_app.agents.common import COMMITS, COUNTS, ENGINE, SETTINGS, STATUS_VIEW, log
from stream_app.agents.stats import STATS, StatusReporter
from stream_app.application import app, topic
from stream_app.codecs.avro import AvroDecoder, registry_client
from stream_app.codecs.registry import schemas_fetched
from stream_app.delivery.chain import (
    META_HEADER,
    RetryMeta,
    after_failure,
    chain_headers,
    dead_letter_fields,
    guarded,
    headers_dict,
)
from stream_app.delivery.http import Deliverer
from stream_app.delivery.outcome import Outcome
from stream_app.delivery.routers import ClickHouseRouter, Router, configured_routers, source
from stream_app.errors import TransformError
from stream_app.logjson import log_fields
from stream_app.metrics import DELIVERY_LATENCY
from stream_app.output import OutputProducer
from stream_app.topics import EVENT_HEADER, retry_topic, topics
from stream_app.transforms.normalise import normalise

AnyRouter = Router | ClickHouseRouter
ROUTERS: list[Router] = configured_routers(SETTINGS)
PRODUCER = OutputProducer(SETTINGS)
SENSOR = ENGINE.settings.sensor
PAYLOAD_FIELD = {"xapi": "statement", "caliper": "event", "caliper11": "event"}
STATEMENT_LOGS = {fmt: logging.getLogger(f"{fmt}_tracking") for fmt in PAYLOAD_FIELD}
for _fmt, _logger in STATEMENT_LOGS.items():
    # ERB's xapi_tracking / caliper_tracking loggers: silent unless STREAM_APP_STATEMENT_LOG names the format.
    _logger.setLevel(logging.INFO if _fmt in SETTINGS.statement_log_formats() else logging.WARNING)
_decoders: dict[str, AvroDecoder] = {}


@dataclass(slots=True)
class Item:
    """One output record on its way to one router."""

    key: bytes | None
    value: bytes
    event: bytes | None
    payload: dict[str, Any]
    meta: RetryMeta
    emitted: float | None = None  # the event's time, for the latency histogram
    record: dict[str, Any] | None = None  # the decoded output record (ClickHouse rows are built from it)
    where: tuple[str | None, int | None, int | None] = (None, None, None)  # topic, partition, offset read from


class Sender(Protocol):
    """Delivers a batch for one router: one outcome per item, in order; never raises for a failure."""

    async def deliver(self, items: list[Item]) -> list[Outcome]: ...


class HttpSender:
    """An LRS or Caliper endpoint (created in the agent: aiohttp wants the running loop)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._deliverer: Deliverer | None = None

    async def deliver(self, items: list[Item]) -> list[Outcome]:
        if self._deliverer is None:
            self._deliverer = Deliverer(self.router, sensor=SENSOR)
        return await self._deliverer.deliver([item.payload for item in items])


def _event_time(record: dict[str, Any]) -> float | None:
    value = record.get("emission_time") or record.get("event_time")
    return value.timestamp() if isinstance(value, datetime) else None


def _decoder(fmt: str) -> AvroDecoder:
    decoder = _decoders.get(fmt)
    if decoder is None:
        decoder = _decoders[fmt] = AvroDecoder(registry_client(SETTINGS.schema_registry_url), topics()[fmt].name)
    return decoder


def _decode(fmt: str, value: bytes) -> dict[str, Any]:
    return _decoder(fmt).decode(value)


def _match_event(event: bytes | None, record: dict[str, Any]) -> dict[str, Any]:
    """The event for match_params (the header holds it normalised); records without the header match on
    their own fields."""
    if event:
        try:
            parsed = orjson.loads(event)
        except orjson.JSONDecodeError:
            return {}
        if not isinstance(parsed, dict):
            return {}
        if isinstance(parsed.get("name"), str) and ("data" in parsed or "event" not in parsed):
            return parsed  # normalised at ingest: read as it is
        try:  # `data` left out as a copy of `event` (codecs.entries), or a raw event of an earlier worker
            return normalise(parsed)
        except TransformError:
            return {}
    return {"name": record.get("event_name"), "context": {"course_id": record.get("course_id"),
                                                          "org_id": record.get("org")}}


def _items(router: AnyRouter, events: list[Any], fresh: bool) -> list[Item]:
    items = []
    stats = STATS[router.name]
    for event in events:
        message = event.message
        headers = headers_dict(message.headers)
        try:
            record = _decode(source(router), message.value)
            payload = orjson.loads(record[PAYLOAD_FIELD[source(router)]])
        except Exception as exc:  # noqa: BLE001 — any undecodable record is dead-lettered, never fatal
            _dead(router, None, message.key, message.value, headers.get(EVENT_HEADER),
                  RetryMeta(router.name).failed(f"invalid_record:{type(exc).__name__}", time.time()), None, None,
                  (message.topic, message.partition, message.offset))
            continue
        if fresh and isinstance(router, Router) and router.match_params \
                and not router.matches(_match_event(headers.get(EVENT_HEADER), record)):
            stats.filtered += 1
            continue
        meta = RetryMeta(router.name) if fresh else RetryMeta.decode(headers.get(META_HEADER), router.name)
        items.append(Item(message.key, message.value, headers.get(EVENT_HEADER), payload, meta, _event_time(record),
                          record, (message.topic, message.partition, message.offset)))
    return items


def _dead(router: AnyRouter, item: Item | None, key: bytes | None, value: bytes, event: bytes | None,
          meta: RetryMeta, status: int | None, body: str | None,
          where: tuple[str | None, int | None, int | None] = (None, None, None)) -> None:
    stats = STATS[router.name]
    stats.dead_lettered += 1
    COUNTS[f"dead_letter:deliver:{(meta.last_error or '').split(':', 1)[0]}"] += 1
    record = deadletter.record(
        "deliver", meta.last_error or "unknown", key=key, value=value,
        event=event.decode("utf-8", "replace") if event else None,
        **dead_letter_fields(meta, item.payload if item else None, status, body),
    )
    topic, partition, offset = item.where if item is not None else where
    name = item.record.get("event_name") if item is not None and item.record is not None else None
    log.warning("dead-letter stage=deliver router=%s reason=%s attempts=%d event=%s topic=%s partition=%s offset=%s",
                router.name, meta.last_error, meta.attempts, name, topic, partition, offset,
                extra=log_fields(name, topic, partition, offset, stage="deliver", reason=meta.last_error,
                                 router=router.name))
    PRODUCER.produce(topics()["dead_letter"].name, None, record)


def _settle(router: AnyRouter, items: list[Item], outcomes: list[Outcome], status: StatusReporter) -> None:
    stats = STATS[router.name]
    now = time.time()
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome.kind == "delivered":
            stats.delivered += 1
            stats.last_success = now
            if item.emitted is not None:
                DELIVERY_LATENCY.labels(router.name).observe(max(0.0, now - item.emitted))
            STATEMENT_LOGS[source(router)].info("%s", orjson.dumps(item.payload).decode())
            continue
        stats.last_error, stats.last_error_at = outcome.reason, now
        step = after_failure(item.meta, outcome.reason, router.retry_delays, retryable=outcome.kind == "retry",
                             retry_after=outcome.retry_after, now=now)
        if step.dead:
            _dead(router, item, item.key, item.value, item.event, step.meta, outcome.status, outcome.body)
        else:
            assert step.tier is not None
            stats.retrying += 1
            name = retry_topic(topics(), router.name, step.tier).name
            PRODUCER.produce(name, item.key, item.value, chain_headers(item.event, step.meta))
    kinds = {o.kind for o in outcomes}
    if kinds:
        status.observe(router.name, "delivered" in kinds, stats.last_error)


def delivery_agents(router: AnyRouter, sender: Sender) -> None:
    """Register the fresh-traffic agent and one agent per retry tier for a router."""
    status = StatusReporter(topic("delivery_status"), STATUS_VIEW)

    async def deliver(events: list[Any], fresh: bool) -> None:
        # Schemas first met here are fetched off the loop; a registry outage holds the batch.
        await schemas_fetched(_decoder(source(router)), (event.message.value for event in events), COUNTS)
        items = _items(router, events, fresh)
        if items:
            outcomes = await guarded(sender.deliver(items), len(items), router.name)
            _settle(router, items, outcomes, status)
        # Acknowledge only once every retry or dead-letter record of the batch is stored; commit at once, so a
        # crash repeats no settled batch.
        await PRODUCER.flush()
        COMMITS.commit_soon(acknowledge(app, events))

    async def fresh_agent(stream: Any) -> None:
        await STATUS_VIEW.ready()  # the router's last published state, before the first batch is judged
        async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
            await deliver(batch, fresh=True)

    app.agent(topic(source(router)), name=f"deliver-{router.name}")(fresh_agent)

    for tier in range(1, len(router.retry_delays) + 1):
        async def retry_agent(stream: Any) -> None:
            await STATUS_VIEW.ready()
            async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
                due = max(RetryMeta.decode(headers_dict(e.message.headers).get(META_HEADER), router.name).due
                          for e in batch)
                if due > time.time():
                    await asyncio.sleep(due - time.time())
                await deliver(batch, fresh=False)

        spec = retry_topic(topics(), router.name, tier)
        channel = app.topic(spec.name, partitions=spec.partitions or SETTINGS.partitions,
                            key_serializer="raw", value_serializer="raw")
        app.agent(channel, name=f"retry-{router.name}-{tier}")(retry_agent)


for _router in ROUTERS:
    STATS[_router.name]  # noqa: B018 — listed in the web view from the start, even before any traffic
    delivery_agents(_router, HttpSender(_router))

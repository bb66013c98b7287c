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
flight. `register` makes the worker's `Delivery` (its producer and decoders)
and the agents of every router; nothing happens at import.
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
from stream_app.agents.stats import StatusReporter
from stream_app.codecs.avro import AvroDecoder
from stream_app.codecs.registry import schemas_fetched
from stream_app.context import Context, log
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
from stream_app.delivery.routers import ClickHouseRouter, Router, source
from stream_app.errors import TransformError
from stream_app.logjson import log_fields
from stream_app.metrics import DELIVERY_LATENCY
from stream_app.output import OutputProducer
from stream_app.topics import EVENT_HEADER, retry_topic
from stream_app.transforms.normalise import normalise

AnyRouter = Router | ClickHouseRouter
PAYLOAD_FIELD = {"xapi": "statement", "caliper": "event", "caliper11": "event"}
# ERB's xapi_tracking / caliper_tracking loggers: silent unless STREAM_APP_STATEMENT_LOG names the format.
STATEMENT_LOGS = {fmt: logging.getLogger(f"{fmt}_tracking") for fmt in PAYLOAD_FIELD}


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

    def __init__(self, router: Router, sensor: str) -> None:
        self.router = router
        self.sensor = sensor
        self._deliverer: Deliverer | None = None

    async def deliver(self, items: list[Item]) -> list[Outcome]:
        if self._deliverer is None:
            self._deliverer = Deliverer(self.router, sensor=self.sensor)
        return await self._deliverer.deliver([item.payload for item in items])


def _event_time(record: dict[str, Any]) -> float | None:
    value = record.get("emission_time") or record.get("event_time")
    return value.timestamp() if isinstance(value, datetime) else None


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


class Delivery:
    """The delivery agents' shared parts on one worker: the retry/dead-letter producer and the decoders."""

    def __init__(self, ctx: Context, producer: OutputProducer | None = None) -> None:
        self.ctx = ctx
        self.producer = producer or OutputProducer(ctx.settings)
        self._decoders: dict[str, AvroDecoder] = {}
        self.status = StatusReporter(ctx.channel(ctx.topics.delivery_status), ctx.status_view)

    def decoder(self, fmt: str) -> AvroDecoder:
        decoder = self._decoders.get(fmt)
        if decoder is None:
            decoder = self._decoders[fmt] = AvroDecoder(self.ctx.registry, self.ctx.topics[fmt].name)
        return decoder

    def items(self, router: AnyRouter, events: list[Any], fresh: bool) -> list[Item]:
        """The batch's records for `router`: decoded, matched, with their retry history."""
        items = []
        stats = self.ctx.stats[router.name]
        decoder = self.decoder(source(router))
        field = PAYLOAD_FIELD[source(router)]
        for event in events:
            message = event.message
            headers = headers_dict(message.headers)
            try:
                record = decoder.decode(message.value)
                payload = orjson.loads(record[field])
            except Exception as exc:  # noqa: BLE001 — any undecodable record is dead-lettered, never fatal
                self.dead(router, None, message.key, message.value, headers.get(EVENT_HEADER),
                          RetryMeta(router.name).failed(f"invalid_record:{type(exc).__name__}", time.time()), None,
                          None, (message.topic, message.partition, message.offset))
                continue
            if fresh and isinstance(router, Router) and router.match_params \
                    and not router.matches(_match_event(headers.get(EVENT_HEADER), record)):
                stats.filtered += 1
                continue
            meta = RetryMeta(router.name) if fresh else RetryMeta.decode(headers.get(META_HEADER), router.name)
            items.append(Item(message.key, message.value, headers.get(EVENT_HEADER), payload, meta,
                              _event_time(record), record, (message.topic, message.partition, message.offset)))
        return items

    def dead(self, router: AnyRouter, item: Item | None, key: bytes | None, value: bytes, event: bytes | None,
             meta: RetryMeta, status: int | None, body: str | None,
             where: tuple[str | None, int | None, int | None] = (None, None, None)) -> None:
        """Send one record of `router` to the dead-letter topic with its delivery history."""
        self.ctx.stats[router.name].dead_lettered += 1
        self.ctx.counts[f"dead_letter:deliver:{(meta.last_error or '').split(':', 1)[0]}"] += 1
        record = deadletter.record(
            "deliver", meta.last_error or "unknown", key=key, value=value,
            event=event.decode("utf-8", "replace") if event else None,
            **dead_letter_fields(meta, item.payload if item else None, status, body),
        )
        topic, partition, offset = item.where if item is not None else where
        name = item.record.get("event_name") if item is not None and item.record is not None else None
        log.warning("dead-letter stage=deliver router=%s reason=%s attempts=%d event=%s topic=%s partition=%s "
                    "offset=%s", router.name, meta.last_error, meta.attempts, name, topic, partition, offset,
                    extra=log_fields(name, topic, partition, offset, stage="deliver", reason=meta.last_error,
                                     router=router.name))
        self.producer.produce(self.ctx.topics.dead_letter.name, None, record)

    def settle(self, router: AnyRouter, items: list[Item], outcomes: list[Outcome]) -> None:
        """Each item's way on: delivered (counted, logged), the next retry topic, or the dead-letter topic."""
        stats = self.ctx.stats[router.name]
        now = time.time()
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome.kind == "delivered":
                stats.delivered += 1
                stats.last_success = now
                if item.emitted is not None:
                    DELIVERY_LATENCY.labels(router.name).observe(max(0.0, now - item.emitted))
                logger = STATEMENT_LOGS[source(router)]
                if logger.isEnabledFor(logging.INFO) and item.record is not None:
                    # The statement's JSON as the record carries it: not serialised again for the log line.
                    logger.info("%s", item.record[PAYLOAD_FIELD[source(router)]])
                continue
            stats.last_error, stats.last_error_at = outcome.reason, now
            step = after_failure(item.meta, outcome.reason, router.retry_delays, retryable=outcome.kind == "retry",
                                 retry_after=outcome.retry_after, now=now)
            if step.dead:
                self.dead(router, item, item.key, item.value, item.event, step.meta, outcome.status, outcome.body)
            else:
                assert step.tier is not None
                stats.retrying += 1
                name = retry_topic(self.ctx.topics, router.name, step.tier).name
                self.producer.produce(name, item.key, item.value, chain_headers(item.event, step.meta))
        kinds = {o.kind for o in outcomes}
        if kinds:
            self.status.observe(router.name, "delivered" in kinds, stats.last_error)

    async def deliver(self, router: AnyRouter, sender: Sender, events: list[Any], fresh: bool) -> None:
        """Deliver one batch of `router`'s topic, then acknowledge it once its retry and dead-letter records are
        stored, and commit at once, so a crash repeats no settled batch."""
        ctx = self.ctx
        # Schemas first met here are fetched off the loop; a registry outage holds the batch.
        await schemas_fetched(self.decoder(source(router)), (event.message.value for event in events), ctx.counts)
        items = self.items(router, events, fresh)
        if items:
            outcomes = await guarded(sender.deliver(items), len(items), router.name)
            self.settle(router, items, outcomes)
        await self.producer.flush()
        ctx.commits.commit_soon(acknowledge(ctx.app, events))

    def agents(self, router: AnyRouter, sender: Sender) -> list[Any]:
        """Register the fresh-traffic agent and one agent per retry tier for a router (returned in that order)."""
        ctx = self.ctx

        async def fresh_agent(stream: Any) -> None:
            await ctx.status_view.ready()  # the router's last published state, before the first batch is judged
            async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
                await self.deliver(router, sender, batch, fresh=True)

        made = [ctx.app.agent(ctx.channel(ctx.topics[source(router)]), name=f"deliver-{router.name}")(fresh_agent)]

        for tier in range(1, len(router.retry_delays) + 1):
            async def retry_agent(stream: Any) -> None:
                await ctx.status_view.ready()
                async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
                    due = max(RetryMeta.decode(headers_dict(e.message.headers).get(META_HEADER), router.name).due
                              for e in batch)
                    if due > time.time():
                        await asyncio.sleep(due - time.time())
                    await self.deliver(router, sender, batch, fresh=False)

            channel = ctx.channel(retry_topic(ctx.topics, router.name, tier))
            made.append(ctx.app.agent(channel, name=f"retry-{router.name}-{tier}")(retry_agent))
        return made


def register(ctx: Context) -> Delivery:
    """The worker's `Delivery` and the agents of every HTTP router."""
    for fmt, logger in STATEMENT_LOGS.items():
        logger.setLevel(logging.INFO if fmt in ctx.settings.statement_log_formats() else logging.WARNING)
    delivery = Delivery(ctx)
    for router in ctx.routers:
        delivery.agents(router, HttpSender(router, ctx.engine.settings.sensor))
    return delivery

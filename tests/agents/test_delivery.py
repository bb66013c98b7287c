"""A router's delivery agent, run by Faust's `agent.test_context()`: match_params on the event header, outcomes
settled (delivered, retry topic, dead letter), acknowledged once settled."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson

from stream_app.agents import delivery, enrich
from stream_app.codecs.avro import AvroDecoder
from stream_app.codecs.entries import Entry
from stream_app.context import Context
from stream_app.delivery.chain import META_HEADER, RetryMeta, headers_dict
from stream_app.delivery.outcome import Outcome
from stream_app.delivery.routers import Router
from stream_app.pipeline import process, route
from stream_app.topics import EVENT_HEADER, retry_topic
from tests.agents.conftest import StoredAtOnce
from tests.agents.test_enrich import LINK, until
from tests.golden.harness import erb_lookup


class Answering:
    """An LRS stand-in that answers each statement with the next outcome kind (and records what it got)."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.got: list[dict[str, Any]] = []

    async def deliver(self, items: list[delivery.Item]) -> list[Outcome]:
        self.got += [item.payload for item in items]
        return [Outcome(kind, "ok" if kind == "delivered" else "http_503" if kind == "retry" else "http_400",
                        status=200 if kind == "delivered" else 503 if kind == "retry" else 400)
                for kind in self.kinds[:len(items)]]


def xapi_records(ctx: Context) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, Avro value, headers) of two events' xAPI records, as the enrich agent produces them."""
    encoders = enrich.Encoders(ctx)
    asyncio.run(encoders.ready())
    out = []
    for i, course in enumerate(("course-v1:edX+DemoX+Demo_Course", "course-v1:TestX+XP101+2023_T1")):
        event = {**LINK, "context": {**LINK["context"], "course_id": course},
                 "timestamp": f"2026-01-0{i + 1}T00:00:00+00:00"}
        routed = route(orjson.dumps(event), ctx.engine, ("xapi",))
        assert routed.parsed is not None and routed.key is not None
        entry = Entry(routed.key, routed.parsed.event, 0, i)
        for fmt, actor, record in process(entry.event, ctx.engine, erb_lookup(), ("xapi",)).outputs:
            out.append((actor.encode(), encoders.encode(fmt, record), [(EVENT_HEADER, entry.header())]))
    return out


def router(**fields: Any) -> Router:
    return Router(name="lrs", format="xapi", url="http://lrs.invalid/xapi/", retry_delays=(30.0,), batch_size=10,
                  batch_max_wait=0.05, **fields)


def run(ctx: Context, lrs: Answering, records: list[Any], **fields: Any) -> StoredAtOnce:
    made = delivery.Delivery(ctx, producer=StoredAtOnce())  # type: ignore[arg-type]
    made.status._channel = type("Status", (), {"send_soon": lambda *_a, **_k: None})()
    fresh, _retry = made.agents(router(**fields), lrs)

    async def scenario() -> None:
        async with fresh.test_context() as agent:
            for key, value, headers in records:
                await agent.put(value, key=key, headers=headers, partition=1, wait=False)
            await until(lambda: len(ctx.commits.asked) > 0)

    asyncio.run(scenario())
    return made.producer  # type: ignore[return-value]


def test_statements_are_delivered_and_the_batch_acknowledged(ctx: Context) -> None:
    records = xapi_records(ctx)
    lrs = Answering(["delivered"] * len(records))
    producer = run(ctx, lrs, records)
    decoder = AvroDecoder(ctx.registry, ctx.topics["xapi"].name)
    # Each statement as the enrich agent encoded it, in order, and nothing sent on to a retry or dead-letter topic.
    assert lrs.got == [orjson.loads(decoder.decode(value)["statement"]) for _key, value, _h in records]
    assert len(records) == 2 and producer.records == []
    assert ctx.stats["lrs"].delivered == len(records)
    assert {tp.partition for tp in ctx.commits.asked} == {1}


def test_match_params_select_on_the_event_header_as_it_is(ctx: Context) -> None:
    records = xapi_records(ctx)
    lrs = Answering(["delivered"] * len(records))
    run(ctx, lrs, records, match_params={"context.course_id": (re.compile("^course-v1:edX"),)})
    assert len(lrs.got) == 1 and ctx.stats["lrs"].filtered == len(records) - 1


def test_a_refusal_goes_to_the_dead_letter_topic_and_a_retryable_failure_to_the_retry_topic(ctx: Context) -> None:
    records = xapi_records(ctx)
    lrs = Answering(["retry", "dead"])
    producer = run(ctx, lrs, records)
    (to_retry, retry_key, retry_value, retry_headers), (dead_topic, _k, dead_value, _h) = producer.records
    assert to_retry == retry_topic(ctx.topics, "lrs", 1).name
    assert (retry_key, retry_value) == records[0][:2]  # the record itself, with its history in headers
    headers = headers_dict(retry_headers)
    assert headers[EVENT_HEADER] == records[0][2][0][1]
    assert RetryMeta.decode(headers[META_HEADER], "lrs").attempts == 1
    assert dead_topic == ctx.topics["dead_letter"].name
    dead = orjson.loads(dead_value)
    assert (dead["stage"], dead["reason"], dead["router"]) == ("deliver", "http_400", "lrs")
    assert (ctx.stats["lrs"].retrying, ctx.stats["lrs"].dead_lettered) == (1, 1)

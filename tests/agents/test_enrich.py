"""The enrich agent, run by Faust's `agent.test_context()`: records out, held events, dead letters, acks."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import orjson

from stream_app.agents import enrich
from stream_app.codecs.avro import AvroDecoder
from stream_app.codecs.entries import SPANS_HEADER, Entry, message
from stream_app.context import Context
from stream_app.pipeline import process, route
from stream_app.tables.memory import MemoryLookup
from stream_app.topics import EVENT_HEADER
from tests.agents.conftest import StoredAtOnce
from tests.golden.harness import cases, erb_lookup

LINK = next(c.event for c in cases() if c.name == "edx.ui.lms.link_clicked")


class Seeded:
    """ERB's seed as the per-event lookup the enricher asks for (it never generates ids)."""

    def __init__(self, lookup: MemoryLookup) -> None:
        self._lookup = lookup
        self.generated: list[tuple[str, str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lookup, name)


def entry_of(ctx: Context, event: dict[str, Any], offset: int) -> Entry:
    """The entry the ingest stage makes of `event`."""
    routed = route(orjson.dumps(event), ctx.engine, ctx.formats)
    assert routed.key is not None and routed.parsed is not None
    return Entry(routed.key, routed.parsed.event, 0, offset, None, routed.parsed.fallback)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the agent did not get there"
        await asyncio.sleep(0.01)


def enricher(ctx: Context, lookup: MemoryLookup) -> tuple[enrich.Enricher, StoredAtOnce]:
    output = StoredAtOnce()
    made = enrich.register(ctx)
    made.output = output  # type: ignore[assignment]
    seeded = Seeded(lookup)
    made.lookup = lambda _may_generate: seeded
    return made, output


def test_a_message_s_events_become_avro_records_with_the_event_header_and_the_message_is_then_acked(
        ctx: Context) -> None:
    made, output = enricher(ctx, erb_lookup())
    entries = [entry_of(ctx, LINK, 10), entry_of(ctx, {**LINK, "timestamp": "2026-01-01T00:00:00+00:00"}, 11)]
    want = [process(e.event, ctx.engine, erb_lookup(), ctx.formats, e.fallback).outputs for e in entries]

    async def scenario() -> None:
        async with made.agent.test_context() as agent:
            await agent.put(orjson.dumps([e.encode() for e in entries]), partition=2)
            await until(lambda: len(ctx.commits.asked) > 0)
        assert output.records, "nothing produced"

    asyncio.run(scenario())
    # Every record of both events, in order, Avro-encoded for its format's topic and keyed by actor.
    expected = [(ctx.topics[fmt].name, actor.encode(), record) for outs in want for fmt, actor, record in outs]
    # Read back through the registry the agent registered its schemas with (the in-process mock).
    decoders = {fmt: AvroDecoder(ctx.registry, ctx.topics[fmt].name) for fmt in ctx.formats}
    fmt_of = {ctx.topics[fmt].name: fmt for fmt in ctx.formats}
    got = [(topic, key, decoders[fmt_of[topic]].decode(value)) for topic, key, value, _h in output.records]
    assert [(t, k, r["event_id"]) for t, k, r in got] == [(t, k, r["event_id"]) for t, k, r in expected]
    # The header is the normalised event, serialised once per event for all its records.
    assert [dict(h)[EVENT_HEADER] for *_rest, h in output.records][0] == entries[0].header()
    assert ctx.counts["out:xapi"] == sum(1 for outs in want for fmt, *_ in outs if fmt == "xapi")
    assert ctx.dead_letter == []
    # Acknowledged only after its records were stored: the commit asked for is the input's partition.
    assert [tp.partition for tp in ctx.commits.asked] == [2]


def test_the_event_header_is_cut_out_of_the_message_where_its_spans_say_and_serialised_only_without_them(
        ctx: Context) -> None:
    made, output = enricher(ctx, erb_lookup())
    entry = entry_of(ctx, LINK, 10)
    value, spans = message([entry])
    assert orjson.loads(value) == [entry.encode()] and value == orjson.dumps([entry.encode()])
    # The event as the message holds it, spaced unlike orjson: a header cut out of the value keeps the spaces.
    event = entry.header()
    spaced = orjson.dumps(orjson.loads(event), option=orjson.OPT_INDENT_2)
    start = value.index(event)
    spaced_value = value[:start] + spaced + value[start + len(event):]
    spaced_spans = struct.pack("<2I", start, start + len(spaced))

    async def scenario() -> None:
        async with made.agent.test_context() as agent:
            await agent.put(spaced_value, partition=0, headers={SPANS_HEADER: spaced_spans})
            await agent.put(value, partition=1, headers={SPANS_HEADER: spans})
            await agent.put(value, partition=2, headers={SPANS_HEADER: spans[:4]})  # not this message's
            await agent.put(value, partition=3)
            await until(lambda: len(ctx.commits.asked) >= 4)

    asyncio.run(scenario())
    headers = {dict(h)[EVENT_HEADER] for *_rest, h in output.records}
    assert headers == {spaced, event}  # no other form: the others were the same bytes, cut or serialised
    assert sum(dict(h)[EVENT_HEADER] == spaced for *_rest, h in output.records) == len(output.records) // 4


def test_an_unknown_user_is_held_on_the_waiting_topic_and_bad_entries_are_dead_lettered(ctx: Context) -> None:
    made, output = enricher(ctx, MemoryLookup(namespace=None))  # nobody known
    held: list[tuple[bytes, bytes]] = []
    made.waiting.send_soon = lambda key, value: held.append((key, value))  # type: ignore[method-assign]
    good = entry_of(ctx, LINK, 20)

    async def scenario() -> None:
        async with made.agent.test_context() as agent:
            await agent.put(orjson.dumps([good.encode(), ["7", "{not json", 0, 21], {"not": "an entry"}]))
            await until(lambda: len(ctx.commits.asked) > 0)

    asyncio.run(scenario())
    assert output.records == []
    ((key, body),) = held
    assert orjson.loads(key) == good.key and orjson.loads(body)["reason"] == "unknown_user"
    assert orjson.loads(body)["entry"] == good.encode()  # held as it came: the normalised event, once parsed
    assert [(stage, reason) for stage, reason, _ in ctx.dead_letter] == [("enrich", "invalid_json"),
                                                                         ("enrich", "invalid_entry:dict")]
    assert ctx.dead_letter[0][2]["source_offset"] == 21  # a bad entry still names where it was read
    assert ctx.counts["held:unknown_user"] == 1


def test_a_message_that_is_not_json_is_dead_lettered_and_still_acked(ctx: Context) -> None:
    made, _output = enricher(ctx, erb_lookup())

    async def scenario() -> None:
        async with made.agent.test_context() as agent:
            await agent.put(b"{oops", partition=1)
            await until(lambda: len(ctx.commits.asked) > 0)

    asyncio.run(scenario())
    assert [(stage, reason) for stage, reason, _ in ctx.dead_letter] == [("enrich", "invalid_json")]
    assert [tp.partition for tp in ctx.commits.asked] == [1]


def test_an_event_too_large_to_wait_is_dead_lettered_at_once(ctx: Context) -> None:
    made = enrich.Enricher(ctx)
    held: list[bytes] = []
    made.waiting.send_soon = lambda key, value: held.append(value)  # type: ignore[method-assign]
    made.hold(Entry("7", {"name": "a", "a": "z" * 950_000}, 1, 99), "unknown_user")
    made.hold(Entry("8", {"name": "a", "a": 1}, 1, 100), "unknown_user")
    ((stage, reason, extra),) = ctx.dead_letter
    assert (stage, reason, extra["source_offset"]) == ("enrich", "unknown_user", 99)
    assert len(held) == 1 and orjson.loads(held[0])["entry"][3] == 100  # a normal one waits


def test_an_internal_error_while_enriching_dead_letters_the_event_itself(
        ctx: Context, monkeypatch: Any, caplog: Any) -> None:
    from types import SimpleNamespace

    def broken(*_: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(enrich, "process", broken)
    made = enrich.Enricher(ctx)
    raw = orjson.dumps(LINK)
    with caplog.at_level("ERROR", logger="stream_app.agents"):
        # An entry of the earlier form (the raw event as text): read, normalised, then the bug.
        made.enrich(SimpleNamespace(value=orjson.dumps([["7", raw.decode(), 2, 40]]), headers=None), None)  # type: ignore[arg-type]
    # The event's own bytes and source, so `dead-letter redrive --stage enrich` can send it again.
    ((stage, reason, fields),) = ctx.dead_letter
    assert (stage, reason) == ("enrich", "internal_error:KeyError")
    assert (fields["event_name"], fields["source_topic_partition"], fields["source_offset"]) == (LINK["name"], 2, 40)
    assert orjson.loads(fields["value"]) == orjson.loads(raw)
    # The error's log line carries the event name, the tracking topic, partition and offset as fields.
    (logged,) = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert (logged.event_name, logged.partition, logged.offset) == (LINK["name"], 2, 40)
    assert logged.topic.endswith("openedx.tracking") and logged.exc_info is not None

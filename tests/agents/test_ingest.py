"""The tracking consumer's routing step: a batch is keyed by actor; a record that fails, however, is dead-lettered
with its source and the rest of the batch goes on (no broker needed: messages are stand-ins)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream_app.agents import enrich, ingest
from stream_app.codecs.entries import Entry
from stream_app.context import Context
from stream_app.output import OutputProducer


class FakeMessage:
    """The few confluent-kafka Message accessors the router reads."""

    def __init__(self, value: bytes | None, partition: int, offset: int) -> None:
        self._value, self._partition, self._offset = value, partition, offset

    def value(self) -> bytes | None:
        return self._value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def topic(self) -> str:
        return "openedx.tracking"

    def key(self) -> bytes | None:
        return None


def event(user_id: int, name: str = "play_video") -> bytes:
    return orjson.dumps({"name": name, "timestamp": "2026-01-01T00:00:00+00:00", "event_source": "browser",
                         "context": {"user_id": user_id, "course_id": "course-v1:edX+D+R", "org_id": "edX"},
                         "event": {"id": "video", "currentTime": 1}, "data": {"id": "video", "currentTime": 1}})


@pytest.fixture
def tracking(ctx: Context) -> ingest.TrackingIngest:
    return ingest.TrackingIngest(ctx, enrich.Enricher(ctx).partition_of, lambda key: key)


def test_a_batch_is_keyed_by_actor_and_bad_records_are_dead_lettered_with_their_source(
        ctx: Context, tracking: ingest.TrackingIngest) -> None:
    messages: list[Any] = [FakeMessage(event(7), 0, 10), FakeMessage(b"{not json", 1, 11),
                           FakeMessage(None, 2, 12), FakeMessage(event(8), 3, 13)]
    groups = tracking.route_batch(messages)
    routed = {entry.key: (p, entry.partition, entry.offset) for p, entries in groups.items() for entry in entries}
    part = tracking.partition_of
    assert routed == {"7": (part("7"), 0, 10), "8": (part("8"), 3, 13)}
    # What travels on is the event as parsed and normalised here: the enrich agent does not parse it again.
    assert [e.event for es in groups.values() for e in es if e.key == "7"] == [orjson.loads(event(7))]
    ((stage, reason, fields),) = ctx.dead_letter
    source = fields["message"]
    assert (stage, reason) == ("parse", "invalid_json")
    assert (source.topic, source.partition, source.offset, source.value) == ("openedx.tracking", 1, 11, b"{not json")
    assert ctx.counts["tracking:tombstone"] == 1


def test_an_unexpected_error_rejects_that_record_only(ctx: Context, tracking: ingest.TrackingIngest,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def fragile(key: str) -> str:
        if key == "9":
            raise RuntimeError("index unavailable")
        return key

    monkeypatch.setattr(tracking, "key_of", fragile)
    groups = tracking.route_batch([FakeMessage(event(9), 0, 1), FakeMessage(event(10), 0, 2)])  # type: ignore[list-item]
    assert [entry.key for entries in groups.values() for entry in entries] == ["10"]
    ((stage, reason, fields),) = ctx.dead_letter
    assert (stage, reason, fields["message"].offset) == ("parse", "internal_error:RuntimeError", 1)


def test_a_partition_s_entries_are_split_in_order_into_messages_under_the_size_limit() -> None:
    # ~3 MB: over what a broker takes in one record
    entries = [Entry(str(i), {"name": "x", "data": "x" * 3000}, 0, i) for i in range(1000)]
    chunks = ingest.messages(entries)
    assert len(chunks) > 1
    assert all(len(value) <= ingest.MESSAGE_BYTES for value, _, _ in chunks)
    # every entry once, in order
    assert [e for value, _, _ in chunks for e in orjson.loads(value)] == [e.encode() for e in entries]
    ((value, _spans, chunk),) = ingest.messages(entries[:10])
    assert (value, chunk) == (orjson.dumps([e.encode() for e in entries[:10]]), entries[:10])


def test_an_event_too_large_for_any_message_is_dead_lettered_and_the_others_are_routed(
        ctx: Context, tracking: ingest.TrackingIngest) -> None:
    # A real librdkafka producer (no broker needed): it refuses a record over `message.max.bytes` at once.
    producer = OutputProducer(ctx.settings)
    huge = [Entry("1", {"name": "y", "data": "y" * 1_200_000}, 2, 40)]
    small = [Entry("2", {"name": "z"}, 2, 41)]
    try:
        tracking._produce(producer, 0, huge + small, None)
        assert ctx.counts["routed"] == 1  # the small one is queued
    finally:
        producer._producer.purge()
        producer._client = None  # destroyed now: no reconnect attempts logged after the test
        producer.close(timeout=0.1)
    ((stage, reason, extra),) = ctx.dead_letter
    assert (stage, reason) == ("output", "refused:MSG_SIZE_TOO_LARGE")
    assert (extra["source_topic_partition"], extra["source_offset"]) == (2, 40)
    assert orjson.loads(extra["value"]) == huge[0].event


def test_events_in_are_counted_by_known_name_and_page_views_do_not_grow_the_counters(
        ctx: Context, tracking: ingest.TrackingIngest) -> None:
    views = [orjson.dumps({"event_type": f"/courses/course-v1:edX+D+R/courseware/ch{i}/", "event_source": "server",
                           "time": "2026-01-01T00:00:00+00:00", "context": {"user_id": 3}, "event": "{}"})
             for i in range(50)]
    messages: list[Any] = [FakeMessage(v, 0, i) for i, v in enumerate(views)]
    messages += [FakeMessage(event(7), 0, 50), FakeMessage(event(7, "some.unknown.event"), 0, 51),
                 FakeMessage(b"{not json", 0, 52)]
    tracking.route_batch(messages)
    assert {k: v for k, v in ctx.counts.items() if k.startswith("in:")} == {
        "in:play_video": 1, "in:_other": 51, "in:_unnamed": 1}

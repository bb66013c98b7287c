"""The events-by-actor entry: the normalised event travels once-parsed; entries of the earlier form still read."""

from __future__ import annotations

import orjson
import pytest

from stream_app.codecs.entries import Entry, EntryError, decode, source_fields
from stream_app.pipeline import route
from stream_app.transforms import Engine
from stream_app.transforms.normalise import normalise

LINE = {"event_type": "play_video", "time": "2026-01-01T00:00:00+00:00", "username": "edx",
        "event": '{"id": "video", "currentTime": 1}', "context": {"user_id": 3, "course_id": "course-v1:edX+D+R"}}


def test_an_entry_travels_as_one_json_array_and_reads_back_equal() -> None:
    entry = Entry("3", normalise(LINE), 1, 42, None, True)
    wire = orjson.loads(orjson.dumps([entry.encode()]))  # what the enrich agent's one loads gives it
    assert decode(wire[0]) == entry
    assert decode(wire[0]).event["data"] == {"id": "video", "currentTime": 1}  # decoded once, at ingest


def test_an_entry_of_the_earlier_form_is_parsed_and_normalised_on_reading() -> None:
    held = {"first": 1.0, "attempt": 2}
    entry = decode(["3", orjson.dumps(LINE).decode(), 1, 42, held])
    assert entry == Entry("3", normalise(LINE), 1, 42, held, fallback=True)  # no `name`: only event_type named it


def test_the_dead_letter_bytes_route_again_as_the_entry_did() -> None:
    engine = Engine()
    first = route(orjson.dumps(LINE), engine, ("xapi",))
    assert first.parsed is not None and first.parsed.fallback
    entry = Entry(first.key or "", first.parsed.event, 0, 1, None, first.parsed.fallback)
    again = route(entry.original(), engine, ("xapi",))
    # Re-driven, it is the same normalised event, still named only by its event_type.
    assert again.parsed == first.parsed and again.key == first.key
    named = Entry("3", normalise({**LINE, "name": "play_video"}), 0, 1)
    assert orjson.loads(named.original())["name"] == "play_video"


@pytest.mark.parametrize("item", [{"a": 1}, ["3"], [3, {"name": "x"}, 0, 0], ["3", "{not json", 0, 0],
                                  ["3", {"no": "name"}, 0, 0], ["3", '"text"', 0, 0]])
def test_what_is_not_an_entry_is_refused_with_a_reason_and_kept_for_the_dead_letter(item: object) -> None:
    with pytest.raises(EntryError):
        decode(item)
    assert orjson.loads(source_fields(item)["value"]) == item


def test_a_tracking_log_event_object_is_not_carried_twice() -> None:
    line = {**LINE, "event": {"id": "video", "currentTime": 1}}
    entry = Entry("3", normalise(line), 1, 42)
    assert entry.event["data"] is entry.event["event"]
    wire = orjson.dumps([entry.encode()])
    assert wire.count(b"currentTime") == 1  # on the topic, in the header and in dead letters: one copy
    assert entry.header().count(b"currentTime") == 1 and entry.original().count(b"currentTime") == 1
    back = decode(orjson.loads(wire)[0])
    assert back == entry and back.event["data"] is back.event["event"]
    assert normalise(orjson.loads(entry.header())) == entry.event  # what the delivery agents match on


def test_a_topic_s_declared_value_type_is_its_codec() -> None:
    from stream_app.topics import TopicsFileError, topics

    specs = topics()
    assert specs.waiting.value == "json" and specs.waiting.decode(specs.waiting.encode({"a": [1]})) == {"a": [1]}
    with pytest.raises(orjson.JSONDecodeError):
        specs.events_by_actor.decode(b"{not json")
    assert specs.tracking.value == "raw" and specs.tracking.decode(b"\x00bytes") == b"\x00bytes"
    with pytest.raises(TopicsFileError):
        specs.tracking.encode({"a": 1})  # a raw topic takes bytes only
    with pytest.raises(TopicsFileError):
        specs.xapi.decode(b"\x00")  # Avro goes through the schema registry (codecs.avro), not the declaration
    assert specs["xapi"] is specs.xapi  # typed attribute and key give the same declaration

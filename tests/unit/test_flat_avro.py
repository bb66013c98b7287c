"""The hand-written flat-record Avro encoder writes exactly the bytes confluent-kafka's serialiser writes."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.codecs.avro import AvroEncoder, registry_client, schema_str
from stream_app.codecs.flat import FlatRecordEncoder

LONGS = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
TEXT = st.text()
OPTIONAL = st.none() | st.text()


def reference(schema: str, record: dict[str, Any]) -> bytes:
    """The body fastavro (what the confluent serialiser calls) writes."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema)), record)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(event_id=TEXT, verb=TEXT, actor=TEXT, obj=TEXT, course=OPTIONAL, org=OPTIONAL, when=LONGS, name=TEXT,
       statement=st.text(min_size=0, max_size=5000))
def test_xapi_records_encode_like_fastavro(event_id: str, verb: str, actor: str, obj: str, course: str | None,
                                           org: str | None, when: int, name: str, statement: str) -> None:
    record = {"event_id": event_id, "verb_id": verb, "actor_id": actor, "object_id": obj, "course_id": course,
              "org": org, "emission_time": when, "event_name": name, "statement": statement}
    try:
        expected = reference(schema_str("XapiStatement"), record)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            FlatRecordEncoder.for_schema(schema_str("XapiStatement")).encode(record)  # type: ignore[union-attr]
        return
    encoder = FlatRecordEncoder.for_schema(schema_str("XapiStatement"))
    assert encoder is not None
    assert encoder.encode(record) == expected


def test_the_encoder_writes_the_serialisers_wire_bytes_after_registering() -> None:
    client = registry_client("mock://flat-avro")
    encoder = AvroEncoder(client, "openedx.caliper", "CaliperEvent")
    records = [
        {"event_id": f"urn:uuid:{i}", "type": "ViewEvent", "action": "Viewed", "actor_id": "a" * i,
         "object_id": "é" * i, "course_id": None if i % 2 else "course-v1:edX+D+R", "org": None,
         "event_time": 1_700_000_000_000_000 + i, "event_name": "edx.ui.lms.link_clicked", "event": "{}" * i * 100}
        for i in range(50)
    ]
    ours = [encoder.encode(record) for record in records]
    generic = AvroEncoder(client, "openedx.caliper", "CaliperEvent")._serializer  # the confluent serialiser
    from confluent_kafka.serialization import MessageField, SerializationContext

    context = SerializationContext("openedx.caliper", MessageField.VALUE)
    assert ours == [bytes(generic(record, context)) for record in records]  # type: ignore[arg-type]


def test_missing_and_mistyped_fields_raise() -> None:
    encoder = FlatRecordEncoder.for_schema(schema_str("CaliperEvent"))
    assert encoder is not None
    good = {"event_id": "x", "type": "t", "action": "a", "actor_id": "u", "object_id": "o",
            "event_time": 1, "event_name": "n", "event": "{}"}
    assert encoder.encode(good) == reference(schema_str("CaliperEvent"), good)  # absent nullable → its null default
    with pytest.raises(ValueError, match="event_id"):
        encoder.encode({k: v for k, v in good.items() if k != "event_id"})
    with pytest.raises(TypeError):
        encoder.encode({**good, "event_time": "yesterday"})
    with pytest.raises(TypeError):
        encoder.encode({**good, "course_id": 3})
    with pytest.raises(ValueError, match="long"):
        encoder.encode({**good, "event_time": 1 << 64})


def test_schemas_that_are_not_flat_use_the_generic_serialiser() -> None:
    nested = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "array", "items": "int"}}]}'
    assert FlatRecordEncoder.for_schema(nested) is None
    three_way = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "string", "long"]}]}'
    assert FlatRecordEncoder.for_schema(three_way) is None

"""`AvroDecoder` reads each framed value exactly as confluent-kafka's `AvroDeserializer` does: our xAPI and
Caliper records (every golden case, both formats), a nested schema with a logical type, and the event bus's
TrackingLogData; what is not framed, or is cut short, is an error, never a wrong record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stream_app.codecs.avro import AvroDecoder, AvroEncoder, registry_client
from stream_app.pipeline import build_engine, process_raw
from stream_app.settings import Settings
from tests.golden.harness import cases, erb_lookup
from tests.unit.test_pipeline_settings_topics import EVENT_BUS_SCHEMA

NESTED = """{"type": "record", "name": "Outer", "fields": [
 {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
 {"name": "tags", "type": {"type": "array", "items": "string"}},
 {"name": "inner", "type": ["null", {"type": "record", "name": "Inner", "fields": [
   {"name": "n", "type": "int"}, {"name": "m", "type": {"type": "map", "values": "double"}}]}]}]}"""


def both(client: object, topic: str, data: bytes) -> tuple[object, object]:
    theirs = AvroDeserializer(client)(data, SerializationContext(topic, MessageField.VALUE))  # type: ignore[arg-type]
    return AvroDecoder(client, topic).decode(data), theirs  # type: ignore[arg-type]


def test_our_records_decode_as_the_deserializer_decodes_them() -> None:
    import orjson

    client = registry_client("mock://decoder-ours")
    engine = build_engine(Settings())
    encoders = {fmt: AvroEncoder(client, f"openedx.{fmt}", record)
                for fmt, record in (("xapi", "XapiStatement"), ("caliper", "CaliperEvent"))}
    decoders = {fmt: AvroDecoder(client, f"openedx.{fmt}") for fmt in encoders}
    checked = 0
    for case in cases():
        for fmt, _actor, record in process_raw(orjson.dumps(case.event), engine, erb_lookup(),
                                               ("xapi", "caliper")).outputs:
            data = encoders[fmt].encode(record)
            theirs = AvroDeserializer(client)(data, SerializationContext(f"openedx.{fmt}", MessageField.VALUE))
            assert decoders[fmt].decode(data) == theirs
            checked += 1
    assert checked > 100


def test_nested_records_logical_types_and_the_event_bus_schema_decode_alike() -> None:
    client = registry_client("mock://decoder-nested")
    context = SerializationContext("nested", MessageField.VALUE)
    value = {"at": datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC), "tags": ["a", "é"],
             "inner": {"n": -7, "m": {"x": 1.5}}}
    data = AvroSerializer(client, NESTED)(value, context)
    assert data is not None
    ours, theirs = both(client, "nested", data)
    assert ours == theirs == value
    bus = {"tracking_log": {"name": "n", "timestamp": "t", "data": "{}", "context": "{}"}}
    data = AvroSerializer(client, EVENT_BUS_SCHEMA)(bus, SerializationContext("openedx.tracking", MessageField.VALUE))
    assert data is not None
    ours, theirs = both(client, "openedx.tracking", data)
    assert ours == theirs == bus


def test_unframed_or_cut_short_values_are_errors() -> None:
    client = registry_client("mock://decoder-bad")
    data = AvroSerializer(client, NESTED)({"at": 0, "tags": ["abc"], "inner": None},
                                          SerializationContext("nested", MessageField.VALUE))
    assert data is not None
    decoder = AvroDecoder(client, "nested")
    for bad in (b"{}", b"\x00\x00\x00", data[:-2]):
        with pytest.raises(Exception):  # noqa: B017,PT011 — the deserializer's own error types vary too
            decoder.decode(bad)

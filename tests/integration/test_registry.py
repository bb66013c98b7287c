"""The development schema registry against confluent-kafka's real client, serializer and deserializer.

Each test runs `python -m stream_app registry` as a separate process on the
session's embedded broker, with a storage topic of its own (a copy of
topics.yaml through `STREAM_APP_TOPICS_FILE`), and talks to it over HTTP with
the project's `AvroEncoder`/`AvroDecoder`. Restarting that process proves the
state is rebuilt from the topic, not kept anywhere else.
"""

from __future__ import annotations

import json
import signal
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from stream_app.codecs.avro import AvroDecoder, AvroEncoder, schema_str
from stream_app.topics import topics
from tests.integration.stack import RegistryProcess

XAPI_TOPIC, CALIPER_TOPIC = topics()["xapi"].name, topics()["caliper"].name
EMISSION = 1_700_000_000_123_456
XAPI_RECORD: dict[str, Any] = {
    "event_id": "1b3f4f7e-1c7d-5a3e-9a55-2f1b7f0e8c11",
    "verb_id": "http://adlnet.gov/expapi/verbs/answered",
    "actor_id": "2f4c1f8e-users-external-id",
    "object_id": "http://localhost:18000/xblock/block-v1:edX+DemoX+Demo_Course+type@problem+block@p1",
    "course_id": "course-v1:edX+DemoX+Demo_Course",
    "org": "edX",
    "emission_time": EMISSION,
    "event_name": "problem_check",
    "statement": '{"id": "1b3f4f7e-1c7d-5a3e-9a55-2f1b7f0e8c11"}',
}
CALIPER_RECORD: dict[str, Any] = {
    "event_id": "urn:uuid:7a0e0f0e-3c5b-5d0b-8f2e-0c9a9c1d2e3f",
    "type": "AssessmentItemEvent",
    "action": "Completed",
    "actor_id": "https://example.org/user/1",
    "object_id": "http://localhost:18000/xblock/p1",
    "course_id": None,
    "org": None,
    "event_time": EMISSION,
    "event_name": "problem_check",
    "event": '{"id": "urn:uuid:7a0e0f0e-3c5b-5d0b-8f2e-0c9a9c1d2e3f"}',
}


def decoded(record: dict[str, Any], time_field: str) -> dict[str, Any]:
    """What the deserializer gives back: timestamp-micros comes back as an aware datetime."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=record[time_field])
    return {**record, time_field: moment}


def schema_id_of(payload: bytes) -> int:
    """The schema id in a Confluent wire-format value (magic byte 0, then a big-endian int)."""
    magic, schema_id = struct.unpack(">bI", payload[:5])
    assert magic == 0
    return int(schema_id)


@pytest.fixture
def registry(broker: str, tmp_path: Path) -> Iterator[RegistryProcess]:
    process = RegistryProcess(broker, tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_round_trip_and_ids_survive_a_restart(registry: RegistryProcess) -> None:
    client = registry.client()
    xapi_payload = AvroEncoder(client, XAPI_TOPIC, "XapiStatement").encode(XAPI_RECORD)
    caliper_payload = AvroEncoder(client, CALIPER_TOPIC, "CaliperEvent").encode(CALIPER_RECORD)
    xapi_id, caliper_id = schema_id_of(xapi_payload), schema_id_of(caliper_payload)
    assert xapi_id != caliper_id
    assert AvroDecoder(client, XAPI_TOPIC).decode(xapi_payload) == decoded(XAPI_RECORD, "emission_time")
    assert sorted(client.get_subjects()) == [f"{CALIPER_TOPIC}-value", f"{XAPI_TOPIC}-value"]

    # SIGKILL: only what was durable before each HTTP answer can survive.
    registry.stop(signal.SIGKILL)
    registry.start()

    client = registry.client()
    # Old payloads decode through GET /schemas/ids/{id} of the restarted process.
    assert AvroDecoder(client, XAPI_TOPIC).decode(xapi_payload) == decoded(XAPI_RECORD, "emission_time")
    assert AvroDecoder(client, CALIPER_TOPIC).decode(caliper_payload) == decoded(CALIPER_RECORD, "event_time")
    # The same schemas map to the same ids, and registering them again creates no new version.
    found = client.lookup_schema(f"{XAPI_TOPIC}-value", Schema(schema_str("XapiStatement"), "AVRO"))
    assert (found.schema_id, found.version) == (xapi_id, 1)
    assert AvroEncoder(client, XAPI_TOPIC, "XapiStatement").encode(XAPI_RECORD) == xapi_payload
    assert AvroEncoder(client, CALIPER_TOPIC, "CaliperEvent").encode(CALIPER_RECORD) == caliper_payload
    assert client.get_versions(f"{XAPI_TOPIC}-value") == [1]
    # A new schema after the restart gets a fresh id: the id counter was rebuilt too.
    evolved = json.loads(schema_str("XapiStatement"))
    evolved["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    new_id = client.register_schema(f"{XAPI_TOPIC}-value", Schema(json.dumps(evolved), "AVRO"))
    assert new_id not in (xapi_id, caliper_id)
    assert client.get_versions(f"{XAPI_TOPIC}-value") == [1, 2]
    assert client.get_latest_version(f"{XAPI_TOPIC}-value").schema_id == new_id


def test_same_schema_twice_is_one_id_and_one_version(registry: RegistryProcess) -> None:
    client = registry.client()
    text = schema_str("XapiStatement")
    reformatted = json.dumps(json.loads(text), indent=4)  # same schema, other whitespace
    first = client.register_schema("one-value", Schema(text, "AVRO"))
    assert registry.client().register_schema("one-value", Schema(reformatted, "AVRO")) == first
    assert client.get_versions("one-value") == [1]
    # Under another subject the same schema keeps its global id, as a version 1 of its own.
    assert registry.client().register_schema("other-value", Schema(reformatted, "AVRO")) == first
    assert client.get_version("other-value", 1).schema_id == first
    # One storage record per subject version; the repeated registration wrote nothing.
    assert registry.stored_keys() == ["one-value/1", "other-value/1"]

    with pytest.raises(SchemaRegistryError) as missing:
        client.lookup_schema("one-value", Schema(schema_str("CaliperEvent"), "AVRO"))
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40403)
    with pytest.raises(SchemaRegistryError) as unknown:
        client.get_schema(first + 1000)
    assert (unknown.value.http_status_code, unknown.value.error_code) == (404, 40403)

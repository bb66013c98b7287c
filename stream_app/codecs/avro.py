"""Avro in the Confluent wire format (magic byte, schema id, body), through any Confluent-compatible registry.

Serialisation uses confluent-kafka's `AvroSerializer`, which registers the
schema under the topic's value subject (`<topic>-value`) on first use and
caches its id; `AvroDecoder` reads framed values back for consumers and tests
(the writer schema parsed once per id). The `.avsc` files beside this module are the schemas.
Our output records are flat (strings, nullable strings, longs), and the generic
serialiser spends ~20 µs on each (5.8 µs here); after the first record (which registers the
schema and tells us its id) `AvroEncoder` writes such records itself with
`flat.FlatRecordEncoder`, byte for byte what the serialiser writes.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_reader

from stream_app.codecs.flat import FlatRecordEncoder

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_FILES = {"XapiStatement": "xapi_statement.avsc", "CaliperEvent": "caliper_event.avsc"}


@cache
def schema_str(record: str) -> str:
    """The Avro schema text of a record name."""
    try:
        return (SCHEMA_DIR / SCHEMA_FILES[record]).read_text()
    except KeyError:
        raise ValueError(f"no Avro schema for record {record!r}; known: {sorted(SCHEMA_FILES)}") from None


def registry_client(url: str) -> SchemaRegistryClient:
    """A registry client; `mock://...` URLs give confluent-kafka's in-process mock."""
    if url.startswith("mock://"):
        return SchemaRegistryClient.new_client({"url": url})
    return SchemaRegistryClient({"url": url})


class HasRegistry:
    """A `registry` made on first use from `self.settings` (importing and testing need none), kept in
    `self._registry`: the worker's context and the ingest process's parts each hold one."""

    settings: Any
    _registry: Any

    @property
    def registry(self) -> Any:
        if self._registry is None:
            self._registry = registry_client(self.settings.schema_registry_url)
        return self._registry


class AvroEncoder:
    """Encodes records of one Avro schema for one topic."""

    def __init__(self, client: SchemaRegistryClient, topic: str, record: str) -> None:
        self._client = client
        self.subject = f"{topic}-value"  # the serialiser's default (topic) subject name strategy
        # One Schema object for `register` and the serialiser, so both register the very same text (the
        # serialiser would strip a str itself; the registry's ids are per text).
        self._schema = Schema(schema_str(record).strip(), "AVRO")
        self._serializer = AvroSerializer(client, self._schema, conf={"auto.register.schemas": True})
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._flat = FlatRecordEncoder.for_schema(schema_str(record))
        self._prefix: bytes | None = None

    @property
    def registered(self) -> bool:
        """Whether the schema's id is known, so `encode` needs the registry no more."""
        return self._prefix is not None

    def register(self) -> None:
        """Register the schema (or look up its id if it is there already); blocking, the one registry call."""
        if self._prefix is None:
            # The serialiser's subject and schema, so its id (and the client's cache serves the serialiser
            # if a record is not flat).
            schema_id = self._client.register_schema(self.subject, self._schema)
            self._prefix = b"\x00" + schema_id.to_bytes(4, "big")

    def encode(self, record: dict[str, Any]) -> bytes:
        """Serialise one record (registers the schema on the first call if `register` was not called)."""
        if self._prefix is not None and self._flat is not None:
            return self._prefix + self._flat.encode(record)
        data = self._serializer(record, self._context)
        assert data is not None
        # The wire prefix is the magic byte and the registered schema id: the same for every record.
        self._prefix = bytes(data[:5])
        return bytes(data)


_UNSEEN = object()


class AvroDecoder:
    """Decodes Confluent-framed Avro values of a topic with whatever schema id they carry.

    Each writer schema is fetched and parsed once per id and the body read with fastavro directly, as
    `AvroDeserializer` reads it (writer schema as reader schema, no record names). The deserialiser
    itself redoes per record what does not change per id (the reader-schema lookup, the rule and
    tag walks: 29 µs a golden statement, against 9 µs here); it still decodes what the direct path does
    not cover: a schema with references or data-contract rules, and anything not framed."""

    def __init__(self, client: SchemaRegistryClient, topic: str) -> None:
        self._client = client
        self._subject = f"{topic}-value"
        self._deserializer = AvroDeserializer(client)
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._parsed: dict[int, Any] = {}  # schema id -> parsed writer schema, or None: the deserialiser's
        self.fetched: set[int] = set()

    def fetch(self, schema_id: int) -> None:
        """Fetch a writer schema into the client's cache (blocking), as `decode` would on meeting its id."""
        if schema_id not in self.fetched:
            self._client.get_schema(schema_id, self._subject)  # the deserialiser's call, so its cache entry
            self.fetched.add(schema_id)

    def _writer(self, schema_id: int) -> Any:
        schema = self._client.get_schema(schema_id, self._subject)
        self.fetched.add(schema_id)
        if schema.schema_type not in (None, "AVRO") or not schema.schema_str or schema.references or schema.rule_set:
            return None
        return parse_schema(orjson.loads(schema.schema_str))

    def decode(self, data: bytes) -> dict[str, Any]:
        """Deserialise one value."""
        schema_id = framed_schema_id(data)
        writer = None
        if schema_id is not None and len(data) > 5:
            writer = self._parsed.get(schema_id, _UNSEEN)
            if writer is _UNSEEN:
                writer = self._parsed[schema_id] = self._writer(schema_id)
        value = (schemaless_reader(BytesIO(data[5:]), writer, None) if writer is not None
                 else self._deserializer(data, self._context))
        assert isinstance(value, dict)
        return value


def framed_schema_id(data: bytes | None) -> int | None:
    """The schema id of a Confluent-framed value (magic byte 0, 4-byte id), or None for anything else."""
    if data is None or len(data) < 5 or data[0] != 0:
        return None
    return int.from_bytes(data[1:5], "big")

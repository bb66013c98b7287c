"""A registry that cannot answer holds the stream (waits, counts, logs); a refusal is the caller's to decide."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from stream_app.codecs.avro import AvroDecoder, AvroEncoder, framed_schema_id, registry_client
from stream_app.codecs.registry import WAITING, refused, schemas_fetched, until_answered

RECORD = {"event_id": "urn:uuid:1", "type": "ViewEvent", "action": "Viewed", "actor_id": "a", "object_id": "o",
          "course_id": None, "org": None, "event_time": 1_700_000_000_000_000, "event_name": "n", "event": "{}"}


def flaky(call: Callable[..., Any], failures: list[BaseException]) -> Callable[..., Any]:
    """`call`, raising each of `failures` first, one per call; `calls` counts every call."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        wrapped.calls += 1  # type: ignore[attr-defined]
        if failures:
            raise failures.pop(0)
        return call(*args, **kwargs)

    wrapped.calls = 0  # type: ignore[attr-defined]
    return wrapped


def test_only_a_4xx_answer_other_than_408_and_429_is_a_refusal() -> None:
    assert refused(SchemaRegistryError(404, 40403, "Schema not found"))
    assert refused(SchemaRegistryError(409, 409, "incompatible"))
    assert not refused(SchemaRegistryError(500, 50001, "store error"))
    assert not refused(SchemaRegistryError(429, -1, "slow down"))
    assert not refused(SchemaRegistryError(408, -1, "timeout"))
    assert not refused(ConnectionRefusedError(111, "Connection refused"))
    assert not refused(TimeoutError())


def test_until_answered_waits_out_an_outage_and_counts_it() -> None:
    counts: Counter[str] = Counter()
    seen: list[dict[str, tuple[float, str]]] = []

    def answer() -> int:
        seen.append(dict(WAITING))  # what the health view shows while the registry is down
        return call()  # type: ignore[no-any-return]

    call = flaky(lambda: 42, [ConnectionRefusedError(111, "refused"), SchemaRegistryError(503, -1, "down")])
    assert asyncio.run(until_answered(answer, "a test", counts, first_delay=0.01)) == 42
    assert call.calls == 3  # type: ignore[attr-defined]
    assert counts == Counter({"registry:unavailable": 2})
    assert "a test" not in seen[0] and "down" in seen[2]["a test"][1] and seen[1]["a test"][0] == seen[2]["a test"][0]
    assert "a test" not in WAITING  # answered: no longer waiting


def test_a_refusal_is_raised_unless_asked_to_wait_for_it() -> None:
    counts: Counter[str] = Counter()
    with pytest.raises(SchemaRegistryError):
        asyncio.run(until_answered(flaky(lambda: 1, [SchemaRegistryError(404, 40403, "no")]), "x", counts))
    assert counts == Counter()
    waited = flaky(lambda: 1, [SchemaRegistryError(409, 409, "incompatible")])
    assert asyncio.run(until_answered(waited, "x", counts, retry_refusals=True, first_delay=0.01)) == 1
    assert counts == Counter({"registry:refused": 1})


def test_register_gives_the_serialisers_id_so_encoding_needs_no_registry_after_it() -> None:
    client = registry_client("mock://registry-waits-register")
    encoder = AvroEncoder(client, "t.caliper", "CaliperEvent")
    assert not encoder.registered
    encoder.register()
    assert encoder.registered
    client.register_schema = flaky(client.register_schema, [])  # type: ignore[method-assign]
    ours = encoder.encode(RECORD)
    assert client.register_schema.calls == 0  # type: ignore[attr-defined]
    generic = AvroEncoder(client, "t.caliper", "CaliperEvent")._serializer
    assert ours == bytes(generic(RECORD, SerializationContext("t.caliper", MessageField.VALUE)))  # type: ignore[arg-type]


def test_schemas_are_fetched_once_off_the_loop_and_an_unknown_id_is_left_to_the_decoder() -> None:
    client = registry_client("mock://registry-waits-fetch")
    value = AvroEncoder(client, "t.caliper", "CaliperEvent").encode(RECORD)
    unknown = b"\x00" + (9999).to_bytes(4, "big") + value[5:]
    client.get_schema = flaky(client.get_schema, [ConnectionRefusedError(111, "refused")])  # type: ignore[method-assign]
    decoder, counts = AvroDecoder(client, "t.caliper"), Counter[str]()

    async def fetch(values: list[bytes | None]) -> None:
        await schemas_fetched(decoder, values, counts)

    asyncio.run(fetch([value, value, b'{"json": true}', None, unknown]))
    assert framed_schema_id(value) in decoder.fetched and 9999 not in decoder.fetched
    assert counts == Counter({"registry:unavailable": 1})
    assert client.get_schema.calls == 3  # type: ignore[attr-defined]  # refused, then fetched; 9999: not found
    asyncio.run(fetch([value]))
    assert client.get_schema.calls == 3  # type: ignore[attr-defined]  # a known id is not asked for again
    assert decoder.decode(value)["event_id"] == "urn:uuid:1"
    with pytest.raises(SchemaRegistryError):
        decoder.decode(unknown)


def test_registry_failures_are_a_prometheus_counter_by_kind() -> None:
    from stream_app.metrics import count_families

    families = {f.name: f for f in count_families({"registry:unavailable": 3, "registry:refused": 1})}
    samples = {(s.name, s.labels["kind"]): s.value for s in families["stream_app_registry_failures"].samples}
    assert samples == {("stream_app_registry_failures_total", "unavailable"): 3,
                       ("stream_app_registry_failures_total", "refused"): 1}

"""The dead-letter record: exact original bytes, and never larger than a broker accepts by default."""

from __future__ import annotations

import orjson

from stream_app import deadletter


def test_a_record_keeps_the_original_as_text_and_exact_bytes() -> None:
    body = orjson.loads(deadletter.record("parse", "invalid_json", topic="t", partition=1, offset=7, value=b"{x"))
    assert (body["original"], deadletter.original_bytes(body)) == ("{x", b"{x")
    assert body["source"] == {"topic": "t", "partition": 1, "offset": 7} and "omitted" not in body


def test_a_large_original_keeps_its_exact_bytes_and_loses_only_the_readable_copy() -> None:
    value = b"a" * 500_000
    encoded = deadletter.record("enrich", "unknown_user", value=value, source_offset=3)
    assert len(encoded) <= deadletter.MAX_RECORD_BYTES
    body = orjson.loads(encoded)
    assert body["omitted"] == ["original"] and body["original"] is None
    assert deadletter.original_bytes(body) == value and body["original_size"] == 500_000


def test_large_extra_fields_go_before_the_exact_original() -> None:
    value = b"b" * 400_000
    encoded = deadletter.record("deliver", "http_400", value=value, statement="s" * 400_000, router="lrs")
    body = orjson.loads(encoded)
    assert len(encoded) <= deadletter.MAX_RECORD_BYTES
    assert body["omitted"] == ["original", "statement"] and body["router"] == "lrs"
    assert deadletter.original_bytes(body) == value


def test_an_original_too_large_for_any_record_is_named_by_size_and_source() -> None:
    encoded = deadletter.record("output", "refused:MSG_SIZE_TOO_LARGE", value=b"c" * 1_000_000,
                                source_topic_partition=2, source_offset=9)
    body = orjson.loads(encoded)
    assert len(encoded) <= deadletter.MAX_RECORD_BYTES
    assert body["omitted"] == ["original", "original_b64"] and body["original_size"] == 1_000_000
    assert deadletter.original_bytes(body) is None
    assert (body["source_topic_partition"], body["source_offset"]) == (2, 9)

"""The dead-letter record: exact original bytes, and never larger than a broker accepts by default."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

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


class Sent(list[bytes]):
    def send_soon(self, key: bytes | None, value: bytes) -> None:
        self.append(value)


def test_a_burst_is_logged_one_by_one_up_to_a_limit_then_summed_up_and_every_record_is_sent(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = [1000.0]
    monkeypatch.setattr(deadletter.time, "monotonic", lambda: clock[0])
    sent, counts = Sent(), Counter[str]()
    letters = deadletter.DeadLetters(sent, counts, "tracking")
    with caplog.at_level("WARNING", logger="stream_app.agents"):
        for offset in range(deadletter.LOG_EACH + 5):
            letters("transform", "unknown_block:x", source_topic_partition=0, source_offset=offset)
        letters("parse", "invalid_json", source_topic_partition=1, source_offset=0)  # another reason: its own limit
        one_by_one = [r.getMessage() for r in caplog.records]
        clock[0] += deadletter.LOG_WINDOW
        letters("transform", "unknown_block:y", source_topic_partition=0, source_offset=99)
    assert len(sent) == deadletter.LOG_EACH + 7 and counts["dead_letter:transform:unknown_block"] == 16
    assert len(one_by_one) == deadletter.LOG_EACH + 1
    assert "offset=9" in one_by_one[deadletter.LOG_EACH - 1] and "reason=invalid_json" in one_by_one[-1]
    summary, first_of_next = (r.getMessage() for r in caplog.records[len(one_by_one):])
    assert "stage=transform reason=unknown_block: 5 more in the minute from" in summary
    assert "offset=99" in first_of_next

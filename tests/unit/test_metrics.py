"""Prometheus exposition built from the worker's counters and router stats."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from stream_app.agents.stats import RouterStats
from stream_app.metrics import WorkerCollector


class FakeTP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition

    def __lt__(self, other: FakeTP) -> bool:
        return (self.topic, self.partition) < (other.topic, other.partition)


class Consumer:
    """The two consumer facts the lag gauge reads (assignment, high-water mark, read offsets)."""

    def __init__(self) -> None:
        self.tp = FakeTP("openedx.events-by-actor", 0)
        self._read_offset = {self.tp: 41}

    def assignment(self) -> set[Any]:
        return {self.tp}

    def highwater(self, tp: Any) -> int:
        return 100


def scrape(counts: Counter[str], stats: dict[str, RouterStats], consumer: Any = None,
           ingest_lag: dict[tuple[str, int], int] | None = None) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(counts, stats, lambda: consumer, lambda: ingest_lag or {}))
    return generate_latest(registry).decode()


def test_counts_become_labelled_families_and_reason_details_are_folded() -> None:
    counts: Counter[str] = Counter({
        "in:problem_check": 3, "in:play_video": 2, "out:xapi": 5, "held:unknown_user": 1,
        "dead_letter:transform:missing_field:data.id": 2, "dead_letter:transform:missing_field:object.id": 1,
        "routed": 5, "something:else": 9, "ingest:restarted": 2,
    })
    text = scrape(counts, {})
    assert 'stream_app_events_in_total{name="problem_check"} 3.0' in text
    assert 'stream_app_statements_out_total{format="xapi"} 5.0' in text
    assert 'stream_app_held_total{reason="unknown_user"} 1.0' in text
    assert 'stream_app_dead_letters_total{reason="missing_field",stage="transform"} 3.0' in text
    assert "stream_app_events_routed_total 5.0" in text
    assert "stream_app_ingest_restarts_total 2.0" in text
    assert "something" not in text


def test_router_outcomes_and_consumer_lag() -> None:
    stats = {"lrs": RouterStats(delivered=7, retrying=2, dead_lettered=1, last_success=1700000000.0)}
    text = scrape(Counter(), stats, Consumer(), {("openedx.tracking", 2): 7})
    assert 'stream_app_deliveries_total{outcome="delivered",router="lrs"} 7.0' in text
    assert 'stream_app_deliveries_total{outcome="dead_lettered",router="lrs"} 1.0' in text
    assert 'stream_app_router_last_success_timestamp_seconds{router="lrs"} 1.7e+09' in text
    assert 'stream_app_consumer_lag{partition="0",topic="openedx.events-by-actor"} 58.0' in text
    assert 'stream_app_consumer_lag{partition="2",topic="openedx.tracking"} 7.0' in text  # the ingest consumer's


def test_in_retry_topics_sums_the_unread_records_of_one_routers_retry_topics() -> None:
    from stream_app.agents.stats import in_retry_topics
    from stream_app.metrics import partition_lags

    consumer = Consumer()
    consumer.tp = FakeTP("stream_app.retry.lrs.2", 1)
    consumer._read_offset = {consumer.tp: 89}  # 100 - (89 + 1) = 10 unread
    lags = {**partition_lags(consumer), ("stream_app.retry.lrs.1", 0): 3, ("stream_app.retry.lrs.1", 3): 4,
            ("stream_app.retry.lrs-eu.1", 0): 50, ("stream_app.retry.lrs.9", 0): 70, ("openedx.xapi", 0): 99}
    assert in_retry_topics(lags, "lrs", tiers=3) == 17  # not another router's, not a tier it lacks
    assert in_retry_topics(lags, "lrs-eu", tiers=3) == 50
    assert in_retry_topics({}, "lrs", tiers=3) == 0
    assert partition_lags(None) == {}


def test_json_log_lines_carry_the_structured_fields() -> None:
    import logging

    import orjson

    from stream_app.logjson import JsonFormatter, logging_config

    record = logging.LogRecord("stream_app.agents", logging.WARNING, __file__, 1, "dead-letter %s", ("x",), None)
    record.event_name, record.partition, record.offset = "problem_check", 3, 1234
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "dead-letter x" and line["level"] == "WARNING"
    assert (line["event_name"], line["partition"], line["offset"]) == ("problem_check", 3, 1234)
    from stream_app.logjson import event_name_of, log_fields

    assert event_name_of(b'{"name": "problem_check"}') == "problem_check"
    assert event_name_of('{"event_type": "/courses/x/"}') == "/courses/x/"
    assert event_name_of(b"not json") is None and event_name_of(None) is None and event_name_of(b"[1]") is None
    record.__dict__.update(log_fields("play_video", "openedx.xapi", 1, 7, router="lrs"))
    line = orjson.loads(JsonFormatter().format(record))
    assert (line["event_name"], line["topic"], line["partition"], line["offset"], line["router"]) == (
        "play_video", "openedx.xapi", 1, 7, "lrs")
    assert logging_config("text") is None
    assert logging_config("json")["merge"] is True  # type: ignore[index]

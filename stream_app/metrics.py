"""Prometheus metrics of a worker, served at `/metrics` on its web port.

The agents count into one process-wide `COUNTS` (keys such as `in:<event>`,
`out:xapi`, `dead_letter:<stage>:<reason>`, `held:<reason>`) and the delivery
agents into per-router `STATS`; this module translates both into labelled
Prometheus families at scrape time, so counting stays a dict increment on the
hot path. Consumer lag per partition is read from the Faust consumer (high-water
mark minus the last offset read) and, for the tracking topic, from the ingest
consumer's own figures. The delivery latency histogram (event time →
delivered) is observed by the delivery agents directly, and the count of LRS
answers by status (`stream_app_lrs_responses_total{router,status}`) by the HTTP
deliverer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=False)
DELIVERY_LATENCY = Histogram(
    "stream_app_delivery_latency_seconds",
    "Time from the event's timestamp to its statement's delivery, by router",
    ["router"],
    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600),
    registry=REGISTRY,
)
# Observed by the HTTP deliverer on every answer; `status` is the HTTP code, or `error` when none came
# (timeout, refused or broken connection), so 400/409 storms and outages show per router.
LRS_RESPONSES = Counter(
    "stream_app_lrs_responses",
    "Answers of the routers' HTTP endpoints (LRS, Caliper), by router and HTTP status (error: no answer)",
    ["router", "status"],
    registry=REGISTRY,
)

# COUNTS key prefix → (metric name, help, label names); the key's remaining `:`-parts are the labels.
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "in": ("stream_app_events_in", "Tracking events read, by event name", ("name",)),
    "out": ("stream_app_statements_out", "Statements/events produced to the output topics, by format",
            ("format",)),
    "dead_letter": ("stream_app_dead_letters", "Records sent to the dead-letter topic, by stage and reason",
                    ("stage", "reason")),
    "held": ("stream_app_held", "Events held for a late user or course, by reason", ("reason",)),
    "skipped": ("stream_app_skipped", "Events no allow list wants or without a user, by reason", ("reason",)),
    "cdc": ("stream_app_cdc_records", "CDC change events applied, by table", ("table",)),
    "cdc_dropped": ("stream_app_cdc_dropped", "User-row changes not applied (a child row of a deleted user, a "
                    "child delete of an unknown user), by table and reason", ("table", "reason")),
    "registry": ("stream_app_registry_failures", "Schema registry calls that failed while the stream waited, "
                 "by kind (unavailable, refused)", ("kind",)),
}


def _split(key: str, labels: int) -> tuple[str, ...] | None:
    parts = key.split(":", labels)
    if len(parts) != labels + 1:
        return None
    # Reasons may carry a detail after a colon (missing_field:data.id): keep the reason class only.
    return tuple(p.split(":", 1)[0] for p in parts[1:])


def count_families(counts: Mapping[str, int]) -> Iterator[CounterMetricFamily]:
    """Labelled counter families from the `COUNTS` keys (unknown keys are left out)."""
    families = {prefix: CounterMetricFamily(name, help_, labels=list(labels))
                for prefix, (name, help_, labels) in FAMILIES.items()}
    sums: dict[tuple[str, tuple[str, ...]], int] = {}
    for key, value in counts.items():
        prefix = key.split(":", 1)[0]
        spec = FAMILIES.get(prefix)
        if spec is None:
            continue
        labels = _split(key, len(spec[2]))
        if labels is not None:
            sums[(prefix, labels)] = sums.get((prefix, labels), 0) + value
    for (prefix, labels), value in sorted(sums.items()):
        families[prefix].add_metric(list(labels), value)
    routed = CounterMetricFamily("stream_app_events_routed", "Events re-keyed by actor for enrichment")
    routed.add_metric([], counts.get("routed", 0))
    retried = CounterMetricFamily("stream_app_waiting_retried", "Held events retried after their wait")
    retried.add_metric([], counts.get("retried", 0))
    restarted = CounterMetricFamily("stream_app_ingest_restarts", "Times the worker started its ingest process "
                                    "again after it exited by itself")
    restarted.add_metric([], counts.get("ingest:restarted", 0))
    yield from families.values()
    yield routed
    yield retried
    yield restarted


def router_families(stats: Mapping[str, Any]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """Deliveries by router and outcome, and each router's last success time."""
    deliveries = CounterMetricFamily("stream_app_deliveries", "Statements handled by delivery, by router and outcome",
                                     labels=["router", "outcome"])
    last = GaugeMetricFamily("stream_app_router_last_success_timestamp_seconds",
                             "When the router last delivered a statement", labels=["router"])
    for name, s in sorted(stats.items()):
        for outcome in ("delivered", "retrying", "dead_lettered", "filtered"):
            deliveries.add_metric([name, outcome], getattr(s, outcome))
        if s.last_success is not None:
            last.add_metric([name], s.last_success)
    yield deliveries
    yield last


def partition_lags(consumer: Any) -> dict[tuple[str, int], int]:
    """Records not yet read per topic partition assigned to this worker's Faust consumer (empty if none yet)."""
    if consumer is None:
        return {}
    try:
        assigned = list(consumer.assignment())
    except Exception:  # noqa: BLE001 — no assignment yet (starting, rebalancing): report nothing
        return {}
    lags = {}
    for tp in sorted(assigned):
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 — a partition being revoked has no high-water mark any more
            continue
        if high is None:
            continue
        read = consumer._read_offset.get(tp)
        lags[(tp.topic, tp.partition)] = max(0, high - (read + 1 if read is not None else 0))
    return lags


def lag_family(consumer: Any, extra: Mapping[tuple[str, int], int] | None = None) -> GaugeMetricFamily:
    """Consumer lag per topic partition assigned to this worker (high-water mark − next offset to read).

    `extra` holds the lag of partitions read outside Faust (the tracking topic's ingest consumer).
    """
    lag = GaugeMetricFamily("stream_app_consumer_lag", "Records not yet read, per assigned topic partition",
                            labels=["topic", "partition"])
    for (topic, partition), value in sorted({**dict(extra or {}), **partition_lags(consumer)}.items()):
        lag.add_metric([topic, str(partition)], value)
    return lag


class WorkerCollector(Collector):
    """Reads the worker's counters, router stats and consumer at scrape time."""

    def __init__(self, counts: Mapping[str, int], stats: Mapping[str, Any], consumer: Any,
                 extra_lag: Callable[[], Mapping[tuple[str, int], int]] | None = None) -> None:
        self._counts, self._stats, self._consumer = counts, stats, consumer
        self._extra_lag = extra_lag

    def collect(self) -> Iterator[Any]:
        yield from count_families(self._counts)
        yield from router_families(self._stats)
        yield lag_family(self._consumer(), self._extra_lag() if self._extra_lag else None)


def render() -> bytes:
    """The exposition text of every registered metric."""
    return generate_latest(REGISTRY)

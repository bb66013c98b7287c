"""End-to-end lag to the LRS: event time → statement stored by a router's endpoint, read from the workers' metrics.

Each delivery agent observes, for every statement its router accepted, the
time from the event's timestamp to the 2xx answer in the histogram
`stream_app_delivery_latency_seconds{router}`. `stream-app lag --metrics URL`
scrapes that histogram from every worker given, and reports per router the
statements delivered in each interval with percentiles estimated inside the
buckets, as Prometheus' `histogram_quantile` does (so they are estimates: the
buckets bound the error). A worker that does not answer a scrape, or a URL that
answers something other than metrics, keeps its last figures, and a worker
that restarted (its counters fell) counts from zero again, so neither makes a
window's counts go negative.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

LATENCY_BUCKET = "stream_app_delivery_latency_seconds_bucket"
# Cumulative count per bucket upper bound (`le`, +Inf included), per router.
Buckets = dict[float, float]


def delivery_buckets(text: str) -> dict[str, Buckets]:
    """The delivery latency histogram's cumulative bucket counts by router, from a /metrics exposition."""
    out: dict[str, Buckets] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LATENCY_BUCKET:
                out[sample.labels["router"]][float(sample.labels["le"])] = sample.value
    return dict(out)


def bucket_quantile(buckets: Mapping[float, float], q: float) -> float:
    """The q-quantile (0..1) of cumulative buckets, interpolated linearly inside its bucket (NaN when empty)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: all that can be said is "at least this"
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def describe_buckets(buckets: Mapping[float, float]) -> str:
    """`n=…, p50≈… ms, p99≈… ms` for cumulative latency buckets in seconds."""
    total = max(buckets.values(), default=0.0)
    if total <= 0:
        return "n=0"
    return (f"n={total:,.0f}, p50≈{bucket_quantile(buckets, 0.5) * 1000:,.0f} ms, "
            f"p99≈{bucket_quantile(buckets, 0.99) * 1000:,.0f} ms")


def _minus(now: Mapping[str, Buckets], before: Mapping[str, Buckets]) -> dict[str, Buckets]:
    out = {}
    for router, buckets in now.items():
        earlier = before.get(router, {})
        if any(count < earlier.get(bound, 0.0) for bound, count in buckets.items()):
            earlier = {}  # the worker restarted: its counters began again at zero
        out[router] = {bound: count - earlier.get(bound, 0.0) for bound, count in buckets.items()}
    return out


def _add(into: dict[str, Buckets], more: Mapping[str, Buckets]) -> None:
    for router, buckets in more.items():
        target = into.setdefault(router, {})
        for bound, count in buckets.items():
            target[bound] = target.get(bound, 0.0) + count


class DeliveryLag:
    """Windows of delivered-statement latency, summed over the workers' /metrics endpoints."""

    def __init__(self, urls: list[str], timeout: float = 5.0) -> None:
        self.urls = [u if u.rstrip("/").endswith("/metrics") else u.rstrip("/") + "/metrics" for u in urls]
        self.timeout = timeout
        self.failed: set[str] = set()
        self._last = {url: self._scrape(url, {}) for url in self.urls}
        self._total: dict[str, Buckets] = {}

    def _scrape(self, url: str, fallback: dict[str, Buckets]) -> dict[str, Buckets]:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 — operator's URL
                buckets = delivery_buckets(response.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError, ValueError):  # ValueError: not a metrics exposition
            self.failed.add(url)
            return fallback
        self.failed.discard(url)
        return buckets

    def take_window(self) -> dict[str, Buckets]:
        """Per router, what was delivered since the previous call (bucket counts, all workers)."""
        window: dict[str, Buckets] = {}
        for url in self.urls:
            now = self._scrape(url, self._last[url])
            _add(window, _minus(now, self._last[url]))
            self._last[url] = now
        _add(self._total, window)
        return window

    @property
    def total(self) -> dict[str, Buckets]:
        """Per router, everything delivered since the monitor started."""
        return self._total

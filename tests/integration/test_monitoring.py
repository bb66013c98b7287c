"""Every metric the Grafana dashboard and the Prometheus rules query is one a running worker exports.

The names are the explicit list in tests/monitoring.py (the files use exactly
those). A worker declares its families on /metrics from the start, even those
with no sample yet (a counter no event has reached, a histogram no delivery has
observed), so an idle worker's exposition is enough: each family is turned
into the series names Prometheus stores for its type (`_total` for a counter,
`_bucket`/`_sum`/`_count` for a histogram).
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.stack import Stack
from tests.monitoring import METRIC_NAMES, PROMETHEUS_OWN

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "untyped": ("",), "unknown": ("",), "info": ("_info",)}


def exported_series_names(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def test_the_worker_exports_every_metric_the_dashboard_and_the_rules_use(stack: Stack) -> None:
    _worker, port = stack.start_worker("w1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        exported = exported_series_names(response.read().decode())
    missing = sorted(METRIC_NAMES - PROMETHEUS_OWN - exported)
    assert not missing, f"used by deploy/grafana or deploy/prometheus but not exported by the worker: {missing}"

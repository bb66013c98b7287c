"""Lag statistics: nearest-rank percentiles, the report line, and the bounded whole-run sample."""

from __future__ import annotations

import math

from stream_app.ops.lag import RESERVOIR, LagStats, describe, percentile


def test_percentiles_and_report_line() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    ordered = sorted(samples)
    assert percentile(ordered, 50) == 0.05 and percentile(ordered, 99) == 0.099 and percentile(ordered, 100) == 0.1
    assert describe(samples) == "n=100, p50=50 ms, p99=99 ms, max=100 ms"
    assert describe([]) == "n=0"


def test_windows_reset_and_the_total_stays_bounded() -> None:
    stats = LagStats()
    for i in range(RESERVOIR + 10):
        stats.add(i)
    assert len(stats.take_window()) == RESERVOIR + 10 and stats.take_window() == []
    assert len(stats.total) == RESERVOIR and stats.count == RESERVOIR + 10


def test_lrs_lag_is_read_from_the_workers_delivery_histograms() -> None:
    """Two real /metrics endpoints (prometheus_client's exposition): windows of deltas, summed, restart-safe."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from stream_app.ops.delivery_lag import DeliveryLag, bucket_quantile, delivery_buckets, describe_buckets

    buckets = (0.1, 0.5, 1, 5)
    registries = [CollectorRegistry(), CollectorRegistry()]
    histograms = [Histogram("stream_app_delivery_latency_seconds", "x", ["router"], buckets=buckets, registry=r)
                  for r in registries]

    def server(registry: CollectorRegistry) -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                body = generate_latest(registry)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd

    servers = [server(r) for r in registries]
    try:
        histograms[0].labels("lrs").observe(3.0)  # before the monitor starts: not counted
        lag = DeliveryLag([f"http://127.0.0.1:{s.server_port}" for s in servers])
        for _ in range(8):
            histograms[0].labels("lrs").observe(0.3)
        histograms[1].labels("lrs").observe(0.3)
        histograms[1].labels("lrs").observe(2.0)
        histograms[1].labels("caliper").observe(0.05)
        window = lag.take_window()
        assert window["lrs"][math.inf] == 10 and window["caliper"][math.inf] == 1
        # rank 5 of 10 falls in (0.1, 0.5], which holds 9: 0.1 + 0.4 · 5/9
        assert math.isclose(bucket_quantile(window["lrs"], 0.5), 0.1 + 0.4 * 5 / 9)
        assert describe_buckets(window["lrs"]) == "n=10, p50≈322 ms, p99≈4,600 ms"
        assert lag.take_window()["lrs"][math.inf] == 0  # nothing new

        servers[1].shutdown()
        servers[1].server_close()  # a worker stops answering: its last figures are kept
        histograms[0].labels("lrs").observe(7.0)  # beyond the last finite bound
        window = lag.take_window()
        assert window["lrs"][math.inf] == 1 and bucket_quantile(window["lrs"], 0.99) == 5
        assert lag.failed == {f"http://127.0.0.1:{servers[1].server_port}/metrics"}
        assert lag.total["lrs"][math.inf] == 11 and lag.total["caliper"][math.inf] == 1
    finally:
        servers[0].shutdown()
    assert describe_buckets({}) == "n=0" and math.isnan(bucket_quantile({}, 0.5))
    assert delivery_buckets(generate_latest(CollectorRegistry()).decode()) == {}


def test_a_url_that_answers_something_other_than_metrics_is_reported_not_fatal() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from stream_app.ops.delivery_lag import DeliveryLag

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html><body>Not the metrics page</body></html>")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        lag = DeliveryLag([f"http://127.0.0.1:{httpd.server_port}/"])
        assert lag.take_window() == {} and lag.failed == {f"http://127.0.0.1:{httpd.server_port}/metrics"}
    finally:
        httpd.shutdown()


def test_a_restarted_worker_counts_from_zero_rather_than_going_negative() -> None:
    from stream_app.ops.delivery_lag import _minus

    before = {"lrs": {0.5: 90.0, math.inf: 100.0}}
    assert _minus({"lrs": {0.5: 95.0, math.inf: 110.0}}, before) == {"lrs": {0.5: 5.0, math.inf: 10.0}}
    assert _minus({"lrs": {0.5: 3.0, math.inf: 4.0}}, before) == {"lrs": {0.5: 3.0, math.inf: 4.0}}

"""Lag statistics: nearest-rank percentiles, the report line, and the bounded whole-run sample."""

from __future__ import annotations

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

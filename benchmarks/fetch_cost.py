"""Benchmark: the embedded broker's CPU for a consumer polling empty partitions, by number of partitions.

A worker's Faust consumer sends one fetch for all the partitions it is assigned,
and on the embedded broker (Tansu) each fetch that finds nothing waits out its
whole wait (50 ms here, see `stream_app.compat`) and costs CPU for every
partition it names. This measures that cost alone: one librdkafka consumer with
the worker's fetch wait, assigned N empty partitions, polling for `--seconds`;
the broker's CPU time comes from /proc. The baseline is the same consumer on 4
partitions (one topic) in the same run; the ratios say how the cost grows with
the partitions a fetch names, which is why stream_app keeps low-traffic topics
and global tables at one partition. Run:

    python -m benchmarks.fetch_cost [--seconds S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from tempfile import mkdtemp

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.pipeline import cpu_seconds
from stream_app.compat import TANSU_FETCH_WAIT_MS
from stream_app.devstack.processes import start_broker

COUNTS = (4, 22, 61)  # the baseline; a worker's fetch now; a worker's fetch before global tables and CDC had 1


def broker_share(bootstrap: str, pid: int, partitions: list[TopicPartition], seconds: float) -> float:
    """Share of one core the broker uses while one consumer polls `partitions` (none: nobody polls)."""
    consumer = None
    if partitions:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fetch-cost", "enable.auto.commit": False,
                             "fetch.wait.max.ms": TANSU_FETCH_WAIT_MS})
        consumer.assign(partitions)
        consumer.poll(1.0)  # connected and fetching before the clock starts
    started, used = time.monotonic(), cpu_seconds(pid)
    while time.monotonic() - started < seconds:
        if consumer is not None:
            consumer.poll(0.5)
        else:
            time.sleep(0.5)
    share = (cpu_seconds(pid) - used) / (time.monotonic() - started)
    if consumer is not None:
        consumer.close()
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    broker, bootstrap = start_broker(Path(mkdtemp(prefix="fetch-cost-")))
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = [f"empty-{i}" for i in range(max(COUNTS) // 4 + 1)]
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
            future.result()
        every = [TopicPartition(t, p, 0) for t in topics for p in range(4)]
        idle = broker_share(bootstrap, broker.popen.pid, [], args.seconds)
        rows = [(n, broker_share(bootstrap, broker.popen.pid, every[:n], args.seconds)) for n in COUNTS]
    finally:
        broker.stop()
    base = rows[0][1]
    print(f"one consumer, fetch wait {TANSU_FETCH_WAIT_MS} ms, {args.seconds:.0f} s each; broker idle: "
          f"{idle * 100:.1f}% of a core\n")
    print("| empty partitions per fetch | broker CPU (% of a core) | ratio |")
    print("|---:|---:|---:|")
    for n, share in rows:
        print(f"| {n} | {share * 100:.1f} | {share / base:.2f}{' (baseline)' if n == rows[0][0] else ''} |")


if __name__ == "__main__":
    main()

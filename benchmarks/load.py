"""Benchmark: `stream-app load` into the embedded broker, next to a bare confluent-kafka produce loop.

Writes N varied tracking events (the transform benchmark's corpus) to a plain
and a gzip file, starts the embedded broker, and in the same run measures, each
into a fresh topic of 4 partitions:

1. baseline: a bare loop — read the file's lines, `Producer.produce(line)` —
   with the same producer settings as `stream-app load`;
2. `stream-app load`'s path in-process (`stream_app.ops.load.load`: line
   checks with orjson, actor keys, bad-line accounting);
3. the console script itself (`stream-app load FILE`, a subprocess: start-up
   and file expansion included).

Both flavors' producer settings are measured (`producer_config`): `tansu`
(batched, not idempotent) and `kafka` (batched, idempotent). Rates are lines/s
of wall time until every record was acknowledged (`flush`); the script's rate
includes its start-up (about 1 s of imports).

    python -m benchmarks.load [--events N]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from benchmarks import corpus as corpus_module
from stream_app.devstack.processes import start_broker
from stream_app.ops.load import KafkaSink, load, producer_config
from stream_app.ops.sources import expand


def new_topic(admin: AdminClient, name: str) -> str:
    for future in admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)]).values():
        future.result()
    return name


def bare(bootstrap: str, topic: str, path: Path, flavor: str) -> float:
    config = producer_config(bootstrap, flavor)
    producer = Producer(config)
    opener = gzip.open if path.suffix == ".gz" else open
    started = time.monotonic()
    count = 0
    with opener(path, "rb") as stream:
        for line in stream:
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"))
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
            if count % 1000 == 0:
                producer.poll(0)
    assert producer.flush(60) == 0
    return count / (time.monotonic() - started)


def ours(bootstrap: str, topic: str, path: Path, flavor: str) -> float:
    started = time.monotonic()
    stats = load(expand([str(path)]), KafkaSink(bootstrap, topic, flavor), on_bad=lambda bad: None)
    assert stats.failed == 0 and not stats.bad, stats.summary()
    return stats.events / (time.monotonic() - started)


def cli(bootstrap: str, topic: str, path: Path, flavor: str, events: int) -> float:
    env = {**os.environ, "STREAM_APP_BROKER": f"kafka://{bootstrap}", "STREAM_APP_BROKER_FLAVOR": flavor}
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("stream-app")), "load", "--topic", topic, "--no-progress",
                    str(path)], check=True, env=env, capture_output=True)
    return events / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    tmp = Path(mkdtemp(prefix="bench-load-"))
    lines = corpus_module.corpus(args.events)
    plain = tmp / "tracking.log"
    plain.write_bytes(b"\n".join(lines) + b"\n")
    packed = tmp / "tracking.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
    size = plain.stat().st_size
    broker, bootstrap = start_broker(tmp / "logs")
    rows = []
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for flavor in ("tansu", "kafka"):
            for path in (plain, packed):
                kind = "gzip" if path.suffix == ".gz" else "plain"
                base = bare(bootstrap, new_topic(admin, f"b-{flavor}-{kind}"), path, flavor)
                mine = ours(bootstrap, new_topic(admin, f"o-{flavor}-{kind}"), path, flavor)
                script = cli(bootstrap, new_topic(admin, f"c-{flavor}-{kind}"), path, flavor, args.events)
                rows.append((flavor, kind, base, mine, script))
    finally:
        broker.stop()
    print(f"{args.events:,} events, {size / args.events:,.0f} B/line on average, 4 partitions, embedded broker "
          "on the same machine.\n")
    print("| producer settings | file | bare produce loop | load (in-process) | ratio | `stream-app load` | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for flavor, kind, base, mine, script in rows:
        print(f"| {flavor} | {kind} | {base:,.0f}/s | {mine:,.0f}/s | {mine / base:.2f} | {script:,.0f}/s "
              f"| {script / base:.2f} |")


if __name__ == "__main__":
    main()

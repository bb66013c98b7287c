"""Benchmark: events/s through one worker (tracking topic → both Avro output topics), and latency.

Runs everything on this machine, as the dev stack does: the embedded broker,
the development registry and one `faust -A stream_app worker`. It measures, in
the same run:

1. the worker: N varied events (the transform benchmark's corpus, 1,000
   learners seeded by CDC) produced as fast as possible to the tracking topic;
   rate = N / time until both output topics hold every expected record; in
   `--passes` passes of the same events, each followed by
2. the transform-only rate of the same events in this process (`pipeline.process`
   for both formats plus orjson serialisation of every output, one core: what
   `stream-app transform` does), the figure the worker's rate is judged against:
   the ratio is the median of the passes' worker / transform-only (this host's
   speed drifts within minutes; a pass is judged against its neighbour); and a
   raw confluent-kafka consume → produce passthrough of the same N records, in
   one process;
3. latency at a fixed rate: events stamped with their send time, produced at
   `--rate` per second; latency = output record's broker timestamp − event time;
4. start-up: from launching the worker process to Faust logging Ready;
5. where the CPU went during (1): the worker's, its ingest process's and the broker's CPU time per event
   (from /proc), and the host's steal time. With the broker on the same machine,
   2 cores / (worker + ingest + broker CPU per event) bounds what any worker could do here.

    python -m benchmarks.pipeline [--events N] [--passes K] [--rate R] [--seconds S] [--profile FILE] [--write]

`--profile FILE` records the worker with py-spy during (1) only (collapsed
stacks, `py-spy record -f raw`), the profile BENCHMARKS.md's notes are read from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks import corpus as corpus_module
from stream_app.devstack.processes import free_port, start_broker, start_registry, start_worker, worker_env
from stream_app.kafka import ensure_topics
from stream_app.pipeline import build_engine, process_raw
from stream_app.settings import Settings
from stream_app.topics import DEFAULT_FILE, load_topics

SECTION_START, SECTION_END = "<!-- pipeline:start -->", "<!-- pipeline:end -->"


def cdc_records(users: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"topic": "openedx.cdc.external_user_ids_externalidtype", "key": {"id": i}, "value": {"id": i, "name": n}}
        for i, n in ((1, "xapi"), (2, "caliper"))
    ]
    for uid in range(1, users + 1):
        out.append({"topic": "openedx.cdc.auth_user", "key": {"id": uid},
                    "value": {"id": uid, "username": f"learner{uid}", "email": f"learner{uid}@example.org"}})
        for type_id in (1, 2):
            row = uid * 2 + type_id
            out.append({"topic": "openedx.cdc.external_user_ids_externalid", "key": {"id": row},
                        "value": {"id": row, "user_id": uid, "external_id_type_id": type_id,
                                  "external_user_id": f"00000000-0000-4000-8000-{uid:06d}{type_id:06d}"}})
    for course in corpus_module.COURSES:
        out.append({"topic": "openedx.cdc.course_overviews_courseoverview", "key": {"id": course},
                    "value": {"id": course, "display_name": "Demonstration Course", "org": "edX"}})
    return out


def _web_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return orjson.loads(response.read())


def wait_for_tables(port: int, sizes: dict[str, int], timeout: float = 300) -> None:
    """Until the worker's tables hold the seeded entries (its /stream-app/tables/ view)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            held = _web_json(port, "/stream-app/tables/")
            if all(held.get(name, 0) >= n for name, n in sizes.items()):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"tables did not reach {sizes}")


def wait_until_idle(port: int, quiet: float = 3.0, timeout: float = 300) -> None:
    """Until the worker's counters stop moving for `quiet` seconds (its CDC backlog is applied)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        counts = _web_json(port, "/stream-app/health/")["counts"]
        if counts != last:
            last, since = counts, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)
    raise TimeoutError("the worker did not settle")


def produce(bootstrap: str, topic: str, values: list[bytes], rate: float | None = None) -> None:
    # Batched, as an LMS's producer would: one record per batch would make this loop the bottleneck.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    started = time.monotonic()
    for i, value in enumerate(values):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes started by `pid`, and theirs (the worker's ingest process)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of `pid` itself and of the processes it started (those still running)."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in descendants(pid))


def host_times() -> tuple[float, float]:
    """(all, steal) CPU time of the host so far, in clock ticks (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return float(sum(values[:8])), float(values[7])


def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


class Outputs:
    """Counts the output topics' records by consuming them (one consumer for every pass of the run).

    Counted by consuming, not from high-water marks: the embedded broker's are wrong for
    multi-record batches (INFRA-NOTES, bug 1).
    """

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        self.consumer.subscribe(topics)
        self.counts = dict.fromkeys(topics, 0)

    def wait_for(self, targets: dict[str, int], timeout: float) -> float:
        """Consume until the topics hold `targets` records in all; return when the last one arrived."""
        last = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.consumer.consume(1000, timeout=0.5):
                if not message.error():
                    self.counts[message.topic() or ""] += 1
                    last = time.monotonic()
            if all(self.counts[t] >= n for t, n in targets.items()):
                return last
        raise TimeoutError(f"outputs reached {self.counts}, expected {targets}")

    def close(self) -> None:
        self.consumer.close()


def transform_only(events: list[bytes], repeat: int = 3) -> float:
    """Events/s of `pipeline.process` (xAPI + Caliper) and serialising every output, best of `repeat`, one core."""
    engine, lookup = build_engine(Settings()), corpus_module.lookup()
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        for raw in events:
            for _fmt, _actor, record in process_raw(raw, engine, lookup, ("xapi", "caliper")).outputs:
                orjson.dumps(record, default=str)
        best = max(best, len(events) / (time.perf_counter() - started))
    return best


def start_profile(pid: int, path: str) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (all threads, native frames off) until stopped with SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", path, "--subprocesses",
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def passthrough(bootstrap: str, source: str, sink: str, count: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    # Batched like the worker's own producers of events-by-actor and the output topics (output).
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer.subscribe([source])
    seen, started = 0, None
    while seen < count:
        for message in consumer.consume(500, timeout=1.0):
            if message.error():
                continue
            started = started or time.monotonic()
            while True:
                try:
                    producer.produce(sink, key=message.key(), value=message.value())
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    producer.flush()
    consumer.close()
    assert started is not None
    return count / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--passes", type=int, default=3,
                        help="worker passes of the events, each next to a transform-only pass; medians reported")
    parser.add_argument("--throughput-only", action="store_true",
                        help="measure (1) and the transform-only rate only (quick comparisons; never --write)")
    parser.add_argument("--profile", help="py-spy collapsed stacks of the worker during the throughput run")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    tmp = Path(mkdtemp(prefix="bench-pipeline-"))
    logs = tmp / "logs"
    procs = []
    try:
        broker, bootstrap = start_broker(logs)
        procs.append(broker)
        registry, registry_url = start_registry(logs, bootstrap)
        procs.append(registry)
        data = yaml.safe_load(DEFAULT_FILE.read_text())
        for spec in data["topics"].values():
            spec["name"] = f"bench.{spec['name']}"
        data["topics"]["passthrough"] = {"name": "bench.passthrough", "value": "raw"}
        topics_file = tmp / "topics.yaml"
        topics_file.write_text(yaml.safe_dump(data))
        specs = load_topics(topics_file)
        ensure_topics(bootstrap, specs.values(), 4, 1)
        from stream_app.devstack import seed

        seed.produce_cdc(seed.producer(bootstrap, "tansu"), cdc_records(1000), specs)
        web_port = free_port()
        env = worker_env(bootstrap, registry_url, tmp / "data", web_port,
                         {"STREAM_APP_TOPICS_FILE": str(topics_file), "STREAM_APP_APP_ID": "bench"})
        launched = time.monotonic()
        procs.append(start_worker("worker", logs, env))
        ready_seconds = time.monotonic() - launched  # process start → "[^Worker]: Ready" logged
        # Measure from a loaded state: an event that found no user would wait for a retry.
        wait_for_tables(web_port, {"users": 1000, "courses": len(corpus_module.COURSES), "external_id_types": 2})
        wait_until_idle(web_port)

        events = corpus_module.corpus(args.events)
        engine, lookup = build_engine(Settings()), corpus_module.lookup()
        expected = {"xapi": 0, "caliper": 0}
        for raw in events:
            for fmt, _actor, _record in process_raw(raw, engine, lookup, ("xapi", "caliper")).outputs:
                expected[fmt] += 1
        targets = {specs[f].name: n for f, n in expected.items()}

        worker_pid, broker_pid = procs[-1].popen.pid, broker.popen.pid
        cpu_before = tree_cpu_seconds(worker_pid), cpu_seconds(broker_pid), host_times()
        spy = start_profile(worker_pid, args.profile) if args.profile else None
        outputs = Outputs(bootstrap, list(targets))
        worker_rates, transform_rates = [], []
        # Passes of the same events, each followed by the transform-only rate: the host's speed drifts
        # within minutes, so each worker pass is judged against a transform-only pass next to it.
        for done in range(1, args.passes + 1):
            started = time.monotonic()
            produce(bootstrap, specs["tracking"].name, events)
            finished = outputs.wait_for({t: n * done for t, n in targets.items()}, timeout=1800)
            worker_rates.append(args.events / (finished - started))
            transform_rates.append(transform_only(events, repeat=1))
        outputs.close()
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        total = args.events * args.passes
        worker_after = tree_cpu_seconds(worker_pid)
        worker_us = (worker_after[0] - cpu_before[0][0]) / total * 1e6
        ingest_us = (worker_after[1] - cpu_before[0][1]) / total * 1e6
        broker_us = (cpu_seconds(broker_pid) - cpu_before[1]) / total * 1e6
        host_all, host_steal = host_times()
        steal = (host_steal - cpu_before[2][1]) / max(1.0, host_all - cpu_before[2][0])
        ratios = [w / t for w, t in zip(worker_rates, transform_rates, strict=True)]
        worker_rate, transform_rate = statistics.median(worker_rates), statistics.median(transform_rates)
        ratio = statistics.median(ratios)
        passes = ", ".join(f"{w:,.0f}/{t:,.0f} = {r:.2f}" for w, t, r in zip(worker_rates, transform_rates, ratios,
                                                                               strict=True))
        if args.throughput_only:
            print(f"worker {worker_rate:,.0f} events/s; transform only {transform_rate:,.0f} events/s; ratio "
                  f"{ratio:.2f} (passes: {passes}); worker {worker_us:,.0f} + ingest process {ingest_us:,.0f} "
                  f"µs/event, broker {broker_us:,.0f} µs/event; steal {steal:.0%}")
            return
        base_rate = passthrough(bootstrap, specs["tracking"].name, "bench.passthrough", args.events)

        # Latency at a fixed rate: each event carries its send time as its timestamp.
        count = int(args.rate * args.seconds)
        stamped = []
        for i in range(count):
            event = orjson.loads(events[i % len(events)])
            event["timestamp"] = "SENDTIME"
            stamped.append(orjson.dumps(event))
        lat = _timed_run(bootstrap, specs, stamped, args.rate, registry_url)
    finally:
        for proc in reversed(procs):
            proc.stop()

    p50 = statistics.median(lat) * 1000
    p99 = statistics.quantiles(lat, n=100)[98] * 1000
    table = "\n".join([
        f"{args.events:,} events ({expected['xapi']:,} xAPI statements, {expected['caliper']:,} Caliper events), "
        "4 partitions, one worker, embedded broker and registry on the same 2-core machine.",
        "",
        "| measurement | value | ratio |",
        "|---|---:|---:|",
        f"| baseline: raw confluent-kafka consume → produce passthrough | {base_rate:,.0f} events/s | 1.00 |",
        f"| one worker: tracking → events-by-actor → xAPI + Caliper (Avro); median of {args.passes} passes "
        f"| {worker_rate:,.0f} events/s | {worker_rate / base_rate:.2f} |",
        f"| transform only, same events, this process (xAPI + Caliper, serialised; one core), after each pass "
        f"| {transform_rate:,.0f} events/s | |",
        f"| **one worker / transform only** (median of the passes' ratios: {passes}) | | **{ratio:.2f}** |",
        f"| latency at {args.rate:,.0f} events/s for {args.seconds:.0f} s: p50 | {p50:,.0f} ms | |",
        f"| latency at {args.rate:,.0f} events/s for {args.seconds:.0f} s: p99 | {p99:,.0f} ms | |",
        "| worker start → Ready (new data dir, topics created, 1,000 users of CDC waiting to be read; "
        f"settings of docs/deploying.md, \"The embedded broker\") | {ready_seconds:.1f} s | |",
        f"| CPU per event during the throughput run: worker process (all threads) | {worker_us:,.0f} µs | |",
        f"| CPU per event during the throughput run: its ingest process | {ingest_us:,.0f} µs | |",
        f"| CPU per event during the throughput run: embedded broker | {broker_us:,.0f} µs | |",
        f"| ceiling on this machine: {os.cpu_count()} cores / (worker + ingest + broker CPU per event) "
        f"| {(os.cpu_count() or 1) * 1e6 / (worker_us + ingest_us + broker_us):,.0f} events/s | |",
        f"| host CPU stolen by the hypervisor during the throughput run | {steal:.0%} | |",
    ])
    print(table)
    if args.write:
        path = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        command = (f"python -m benchmarks.pipeline --events {args.events} --passes {args.passes} --rate {args.rate:g} "
                   f"--seconds {args.seconds:g} --write")
        block = (f"{SECTION_START}\n## Pipeline (`benchmarks/pipeline.py`)\n\nCommand: `{command}`\n\n"
                 f"{table}\n{SECTION_END}")
        if SECTION_START in text:
            head, rest = text.split(SECTION_START, 1)
            text = head + block + rest.split(SECTION_END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(text)


def _timed_run(bootstrap: str, specs: Any, stamped: list[bytes], rate: float, registry_url: str) -> list[float]:
    """Produce at `rate` with send-time timestamps; return latencies (s) of the xAPI records."""
    from stream_app.codecs.avro import AvroDecoder, registry_client

    # librdkafka's defaults (linger 5 ms), as an LMS's producer: one record per request would saturate the
    # embedded broker (~2,000 single-record produce requests/s here) and measure it instead of the worker.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    started = time.monotonic()
    for i, template in enumerate(stamped):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = datetime.now(UTC).isoformat()
        producer.produce(specs["tracking"].name, value=template.replace(b"SENDTIME", now.encode()))
        producer.poll(0)
    producer.flush()
    time.sleep(3)
    name = specs["xapi"].name
    decoder = AvroDecoder(registry_client(registry_url), name)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}",
                         "session.timeout.ms": 6000})
    partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
    out: list[float] = []
    try:
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            consumer.assign([TopicPartition(name, p, low)])
            while True:
                message = consumer.poll(2.0)
                if message is None:
                    break
                if message.error():
                    continue
                record = decoder.decode(message.value() or b"")
                emitted = record["emission_time"].timestamp()
                offset = message.offset()
                if offset is None:
                    continue
                if emitted >= time.time() - 3600 and offset >= 0:
                    out.append(message.timestamp()[1] / 1000.0 - emitted)
                if offset + 1 >= high:
                    break
    finally:
        consumer.close()
    return [x for x in out if x >= 0] or [0.0]


if __name__ == "__main__":
    main()

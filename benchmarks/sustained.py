"""Sustained throughput: the highest loadgen rate at which 1 and 2 workers keep end-to-end lag bounded.

For each worker count, on a fresh embedded broker and registry: the loadgen
population's CDC rows are loaded, the workers started, then synthetic events
(`stream-app loadgen`'s generator) are offered at increasing rates, one step of
`--step` seconds each, while a `LagMonitor` (`stream-app lag`) measures event
time → statement record. A rate is sustained when the p99 lag of the step's
second half stays under `--max-p99` seconds and that half's statements were
measured (at least 80% of its events: statements that never come show no
lag); the first rate that fails ends the series. The 1-worker figure is the baseline of the 2-worker ratio.
Each step also reports where the machine's CPU went over its second half, in cores
(from /proc): the workers with their ingest processes, the broker, and this
process (load generator and lag monitor), which all share the machine.
Benchmarks are not tests: nothing here asserts.

    python -m benchmarks.sustained --rates 100,200,400,600,800 --step 20 --write
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import urllib.request
from pathlib import Path
from tempfile import mkdtemp

import orjson

from benchmarks.pipeline import cpu_seconds, host_times, tree_cpu_seconds, wait_until_idle
from stream_app.devstack import seed
from stream_app.devstack.processes import Proc, free_port, start_broker, start_registry, start_worker, worker_env
from stream_app.kafka import ensure_topics
from stream_app.ops.lag import LagMonitor, percentile
from stream_app.ops.load import KafkaSink, Pacer
from stream_app.ops.synth import Generator, cdc_records
from stream_app.topics import concrete, topics

USERS, COURSES = 2000, 10
SAMPLED = 0.8  # share of a step's second half's events whose statements must be measured for it to count


def _offer(bootstrap: str, rate: float, seconds: float, generator: Generator) -> int:
    sink = KafkaSink(bootstrap, topics()["tracking"].name, "tansu")
    pacer = Pacer(rate)
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        event = generator.event()
        sink.send(orjson.dumps(event), event["context"]["username"].encode())
        sent += 1
        pacer.wait(sent)
    sink.close()
    return sent


def _applied(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream-app/health/", timeout=10) as response:
        return int(orjson.loads(response.read())["counts"].get("users:external_user_ids_externalid", 0))


def _wait_for_users(ports: list[int], timeout: float = 300.0) -> None:
    """Until every learner's external ids are in the tables (else events wait for them and lag)."""
    deadline = time.monotonic() + timeout
    while sum(_applied(p) for p in ports) < 2 * USERS and time.monotonic() < deadline:
        time.sleep(1)


Step = tuple[float, float, bool, str]  # (rate, p99 lag of the step's second half, sustained, CPU split)


class CpuSplit:
    """CPU of the workers (with their ingest processes), the broker and this process between two readings."""

    def __init__(self, workers: list[Proc], broker: Proc) -> None:
        self.workers, self.broker = workers, broker
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float, float, float]:
        workers = sum(sum(tree_cpu_seconds(w.popen.pid)) for w in self.workers)
        host_all, host_steal = host_times()
        return (time.monotonic(), workers, cpu_seconds(self.broker.popen.pid), cpu_seconds(os.getpid()),
                host_all, host_steal)

    def restart(self) -> None:
        self._start = self._read()

    def cores(self) -> str:
        """'workers / broker / harness' cores since the last (re)start, and the host's steal."""
        end = self._read()
        seconds = max(1e-6, end[0] - self._start[0])
        used = [(end[i] - self._start[i]) / seconds for i in (1, 2, 3)]
        steal = (end[5] - self._start[5]) / max(1.0, end[4] - self._start[4])
        return f"{used[0]:.2f} / {used[1]:.2f} / {used[2]:.2f} (steal {steal:.0%})"


def run(workers: int, rates: list[float], step: float, max_p99: float) -> list[Step]:
    """(rate, p99 lag of the step's second half, sustained, CPU split) per rate tried."""
    base = Path(mkdtemp(prefix="sustained-"))
    procs: list[Proc] = []
    results: list[Step] = []
    try:
        broker, bootstrap = start_broker(base)
        procs.append(broker)
        registry, registry_url = start_registry(base, bootstrap)
        procs.append(registry)
        ensure_topics(bootstrap, concrete(topics()), 4, 1)
        seed.produce_cdc(seed.producer(bootstrap, "tansu"), cdc_records(USERS, COURSES))
        ports = [free_port() for _ in range(workers)]
        started: list[Proc] = []
        for i, port in enumerate(ports):
            env = worker_env(bootstrap, registry_url, base / f"w{i}", port, {"STREAM_APP_FORMATS": "xapi"})
            started.append(start_worker(f"w{i}", base, env))
        procs.extend(started)
        _wait_for_users(ports)
        for port in ports:
            # Counts of applied rows can be complete before a worker that joined late has recovered its share of
            # the tables; events that find no external id then wait out the grace period and show as lag.
            wait_until_idle(port)
        generator = Generator(USERS, COURSES, 1)
        for rate in rates:
            monitor = LagMonitor(bootstrap, registry_url, topics()["xapi"].name, "xapi")
            producer = threading.Thread(target=_offer, args=(bootstrap, rate, step, generator))
            producer.start()
            began, cpu = time.monotonic(), CpuSplit(started, broker)
            while producer.is_alive():
                monitor.poll(0.5)
                if time.monotonic() - began < step / 2:
                    monitor.stats.take_window()  # measure the second half only: the steady state
                    cpu.restart()
            split = cpu.cores()
            monitor.poll(1.0)
            window = sorted(monitor.stats.take_window())
            monitor.close()
            p99 = percentile(window, 99) if window else float("inf")
            # Statements that never come show no lag: a step counts only if most of its output was measured
            # (~97% of loadgen's events give an xAPI statement; a worker holding its share would give ~50%).
            complete = len(window) >= SAMPLED * rate * step / 2
            ok = p99 <= max_p99 and complete
            results.append((rate, p99, ok, split))
            verdict = "sustained" if ok else "falling behind" if complete else "output missing"
            print(f"workers={workers} rate={rate:,.0f}/s p99={p99:,.2f} s samples={len(window)} {verdict}; "
                  f"cores workers / broker / harness {split}", flush=True)
            if not ok:
                break
            time.sleep(step / 2)  # drain before the next step
    finally:
        for proc in reversed(procs):
            proc.stop()
    return results


def best(results: list[Step]) -> float:
    return max((rate for rate, _p99, ok, _cpu in results if ok), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,200,400,600,800", help="Offered rates, events/s, in order.")
    parser.add_argument("--step", type=float, default=20.0, help="Seconds per rate.")
    parser.add_argument("--max-p99", type=float, default=2.0, help="p99 lag (s) that still counts as keeping up.")
    parser.add_argument("--write", action="store_true", help="Replace the section in BENCHMARKS.md.")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    one = run(1, rates, args.step, args.max_p99)
    two = run(2, rates, args.step, args.max_p99)
    b1, b2 = best(one), best(two)
    ratio = f"{b2 / b1:.2f}" if b1 else "n/a"
    rows = "\n".join(f"| {w} | {r:,.0f} | {p:,.2f} | {'yes' if ok else 'no'} | {cpu} |"
                     for w, series in ((1, one), (2, two)) for r, p, ok, cpu in series)
    section = f"""<!-- sustained:start -->
## Sustained rate, 1 and 2 workers (`benchmarks/sustained.py`)

Command: `python -m benchmarks.sustained --rates {args.rates} --step {args.step:g} --write`

loadgen's synthetic course mix ({USERS:,} learners, {COURSES} courses), xAPI only, embedded broker and
registry on the same 2-core machine; a rate is sustained when the p99 of event time → statement record,
over the second half of a {args.step:g} s step, stays under {args.max_p99:g} s and at least 80% of that half's events
gave a measured statement (statements that never come show no lag). CPU over the same half, in cores of
the machine's 2: the workers with their ingest processes / the broker / this benchmark's load generator and
lag monitor (and the host's CPU stolen by the hypervisor).

| workers | offered events/s | p99 lag (s) | sustained | CPU: workers / broker / harness (cores) |
|---:|---:|---:|---|---|
{rows}

Sustained: 1 worker {b1:,.0f} events/s (baseline), 2 workers {b2:,.0f} events/s (ratio {ratio}).
<!-- sustained:end -->
"""
    print(section)
    if args.write:
        path = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
        text = path.read_text()
        if "<!-- sustained:start -->" in text:
            head, rest = text.split("<!-- sustained:start -->", 1)
            text = head + section.strip() + "\n" + rest.split("<!-- sustained:end -->", 1)[1].lstrip("\n")
        else:
            text = text.replace("## Reading these figures", section.strip() + "\n\n## Reading these figures")
        path.write_text(text)


if __name__ == "__main__":
    main()

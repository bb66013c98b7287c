"""The ingest process: the tracking topic read and routed beside the worker, in a process of its own.

Routing (parse, normalise, filter and key each event by actor: `agents.ingest`)
took a fifth of the worker's event loop, which also runs the enrich agent, so a
worker had one core's worth of Python for both. By default the worker runs
routing here instead (`STREAM_APP_INGEST_PROCESS=false` keeps it on the loop): `IngestProcess`, a Faust
task, starts `python -m stream_app.ingestproc` once the worker is ready, with
the worker's environment (so the same settings), and starts it again if it
exits by itself. The process builds what routing needs without Faust — the
engine, its own counters, a dead-letter writer on its own producer (stored
before a batch's offsets are committed, with the batch's records), and its own
copy of the username index (`tables.usernames`), read from the `usernames`
table's changelog and caught up before the first batch is routed. Every half second it writes its
counters' increments and its lag to the worker, one JSON object per line on its
standard output (its logs go to standard error, the worker's). It stops,
committing what it stored, when its standard input closes (the worker stopping,
or dying) or on SIGTERM or SIGINT. Nothing here imports the Faust app.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from stream_app.agents.ingest import IN_FLIGHT, TrackingIngest
from stream_app.codecs.avro import HasRegistry
from stream_app.deadletter import DeadLetters
from stream_app.kafka import actor_partition
from stream_app.logjson import JsonFormatter
from stream_app.output import OutputProducer
from stream_app.pipeline import build_engine
from stream_app.settings import Settings, get_settings
from stream_app.tables.dimensions import key_by_user_id
from stream_app.tables.usernames import UsernameIndex, changelog_topic
from stream_app.topics import Topics, topics
from stream_app.transforms import Engine

log = logging.getLogger(__name__)
REPORT_EVERY = 0.5  # seconds between reports to the worker
STOP_WAIT = 30.0  # seconds the worker waits for the process to commit and leave its group
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # after exits in a row; reset once it has run a minute


class DeadLetterChannel:
    """`send_soon` (what `DeadLetters` writes through) onto the dead-letter topic, in the batch being routed:
    a batch's offsets are committed only once its dead letters are stored too."""

    def __init__(self, producer: OutputProducer, topic: str) -> None:
        self._producer, self._topic = producer, topic
        self.ingest: TrackingIngest | None = None

    def send_soon(self, key: bytes | None, value: bytes) -> None:
        self._producer.produce(self._topic, key, value, batch=self.ingest.batch if self.ingest else None)


@dataclass
class Parts(HasRegistry):
    """What routing uses (`agents.ingest.Parts`), made here without the worker."""

    settings: Settings
    topics: Topics
    engine: Engine
    formats: tuple[str, ...]
    counts: Counter[str] = field(default_factory=Counter)
    dead_letter: Any = None
    _registry: Any = None  # `registry`, made on first use (event-bus Avro only)


def _log_to_stderr(settings: Settings, level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(
        "[%(asctime)s] [%(process)s] [%(levelname)s] [ingest] %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class Reporter:
    """Writes the counters' increments since the last report and the lag, as one JSON line."""

    def __init__(self, counts: Counter[str], out: IO[bytes]) -> None:
        self._counts, self._out = counts, out
        self._reported: Counter[str] = Counter()
        self._gone = False

    def report(self, lag: dict[tuple[str, int], int]) -> None:
        if self._gone:
            return
        fresh = {key: value - self._reported[key] for key, value in self._counts.items()
                 if value != self._reported[key]}
        self._reported.update(fresh)
        line = orjson.dumps({"counts": fresh, "lag": [[topic, part, n] for (topic, part), n in lag.items()]})
        try:
            self._out.write(line + b"\n")
            self._out.flush()
        except BrokenPipeError:  # the worker is gone: routing still stops cleanly (its stdin closed too)
            self._gone = True


async def serve(ingest: TrackingIngest, index: UsernameIndex, reporter: Reporter) -> None:
    """Route until stdin closes or a stop signal comes; reports all along."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    def watch_stdin() -> None:  # EOF: the worker is stopping, or gone
        while sys.stdin.buffer.read(4096):
            pass
        loop.call_soon_threadsafe(stopping.set)

    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()

    async def reports() -> None:
        while True:
            reporter.report(ingest.lag)
            await asyncio.sleep(REPORT_EVERY)

    reporting = asyncio.create_task(reports())
    try:
        # Events named only by a username are routed by their user id: the index is read first.
        while not index.caught_up.is_set() and not stopping.is_set():
            await asyncio.sleep(0.05)
        if stopping.is_set():
            return
        routing = asyncio.create_task(ingest.run())
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({routing, stop}, return_when=asyncio.FIRST_COMPLETED)
        routing.cancel()
        stop.cancel()
        try:
            await routing  # its `close` commits what is stored and leaves the group
        except asyncio.CancelledError:
            pass
    finally:
        reporting.cancel()
        reporter.report(ingest.lag)


def main(argv: list[str]) -> None:
    """The process's entry point (`python -m stream_app.ingestproc [LOG LEVEL]`, started by the worker)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to the log, never into the reports
    settings = get_settings()
    _log_to_stderr(settings, int(argv[0]) if argv else logging.INFO)
    specs = topics()
    parts = Parts(settings, specs, build_engine(settings), settings.format_list())
    producer = OutputProducer(settings)
    channel = DeadLetterChannel(producer, specs.dead_letter.name)
    parts.dead_letter = DeadLetters(channel, parts.counts, specs.tracking.name)
    index = UsernameIndex(settings, changelog_topic(settings.app_id, "usernames"))
    index.start()
    partitions = specs.events_by_actor.partitions or settings.partitions  # as the enricher's

    def partition_of(key: str) -> int:
        return actor_partition(key, partitions)

    def key_of(key: str) -> str:
        return key_by_user_id(key, index.get)

    ingest = channel.ingest = TrackingIngest(parts, partition_of, key_of, producer, in_flight=IN_FLIGHT)
    log.info("ingest: process %d started", os.getpid())
    try:
        asyncio.run(serve(ingest, index, Reporter(parts.counts, out)))
    finally:
        index.stop()
        producer.close()
    log.info("ingest: process %d stopped", os.getpid())


class IngestProcess:
    """The worker's side: starts the ingest process, adds its counts to the worker's, keeps its lag."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx  # the worker's `Context`
        self.lag: dict[tuple[str, int], int] = {}

    async def run(self) -> None:
        """Run the process until the worker stops, starting it again whenever it exits by itself."""
        exits = 0
        while True:
            proc = await asyncio.create_subprocess_exec(
                # The worker's log level (`faust worker -l ...`) is the process's too.
                sys.executable, "-m", "stream_app.ingestproc", str(logging.getLogger().getEffectiveLevel()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, limit=1 << 20)
            started = time.monotonic()
            try:
                await self._read(proc)
                code = await proc.wait()
            except asyncio.CancelledError:  # the worker is stopping
                await self._stop(proc)
                raise
            self.lag = {}
            exits = 1 if time.monotonic() - started > 60 else exits + 1
            delay = RESTART_DELAYS[min(exits, len(RESTART_DELAYS)) - 1]
            self.ctx.counts["ingest:restarted"] += 1
            log.error("ingest: process %s exited by itself (status %s); starting it again in %.0f s",
                      proc.pid, code, delay)
            await asyncio.sleep(delay)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        counts = self.ctx.counts
        while line := await proc.stdout.readline():
            try:
                report = orjson.loads(line)
                fresh, lag = report["counts"], {(topic, part): n for topic, part, n in report["lag"]}
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                # A line cut short (the process killed mid-write): its counts are lost, the next report's are not.
                log.warning("ingest: unreadable report from process %s: %r", proc.pid, line[:200])
                continue
            counts.update(fresh)
            self.lag = lag

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """Close its stdin and wait while it commits and leaves its group (killed after `STOP_WAIT`)."""
        if proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(self._read_to_exit(proc), STOP_WAIT)
        except TimeoutError:
            log.warning("ingest: process %s did not stop within %.0f s; killed", proc.pid, STOP_WAIT)
            proc.kill()
            await proc.wait()

    async def _read_to_exit(self, proc: asyncio.subprocess.Process) -> None:
        await self._read(proc)  # its last counts
        await proc.wait()


if __name__ == "__main__":
    main(sys.argv[1:])

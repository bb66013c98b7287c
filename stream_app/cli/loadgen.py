"""`stream-app loadgen`: produce realistic synthetic tracking events (and their CDC rows) at a steady rate.

It first produces the CDC snapshot of its population (users, profiles, external
ids, courses, blocks) so the worker can enrich the events, then events at
`--rate` per second for `--duration`, each stamped with the time it was made —
what `stream-app lag` measures against. Events are keyed by username like
`stream-app load` does, so a learner's events stay in order.
"""

from __future__ import annotations

import time

import click
import orjson

from stream_app.devstack import seed
from stream_app.kafka import bootstrap_servers
from stream_app.ops.load import KafkaSink, Pacer
from stream_app.ops.synth import Generator, cdc_records
from stream_app.settings import get_settings, parse_duration
from stream_app.topics import topics


@click.command("loadgen")
@click.option("--rate", type=float, default=100.0, show_default=True, help="Events per second.")
@click.option("--duration", default="30s", show_default=True, help="How long to produce events (e.g. 30s, 5m).")
@click.option("--users", type=int, default=1000, show_default=True, help="Learners in the population.")
@click.option("--courses", type=int, default=10, show_default=True, help="Courses in the population.")
@click.option("--seed", "seed_value", type=int, default=None, help="Random seed (default: a fresh one).")
@click.option("--cdc/--no-cdc", default=True, show_default=True, help="Produce the population's CDC rows first.")
@click.option("--cdc-only", is_flag=True, help="Produce the CDC rows and stop.")
@click.option("--broker", default=None, help="Broker URL(s) (default: STREAM_APP_BROKER).")
def loadgen_command(rate: float, duration: str, users: int, courses: int, seed_value: int | None, cdc: bool,
                    cdc_only: bool, broker: str | None) -> None:
    """Produce synthetic learners, courses and their activity to the CDC and tracking topics."""
    if rate <= 0 or users < 1 or courses < 1:
        raise click.UsageError("--rate, --users and --courses must be positive")
    settings = get_settings()
    bootstrap = bootstrap_servers(broker or settings.broker)
    if cdc or cdc_only:
        count = seed.produce_cdc(seed.producer(bootstrap, settings.broker_flavor), cdc_records(users, courses))
        click.echo(f"loadgen: {count} CDC records for {users} learners and {courses} courses", err=True)
    if cdc_only:
        return
    seconds = parse_duration(duration)
    generator = Generator(users, courses, seed_value)
    sink = KafkaSink(bootstrap, topics().tracking.name, settings.broker_flavor)
    pacer = Pacer(rate)
    sent = 0
    started = last_report = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            event = generator.event()
            sink.send(orjson.dumps(event), event["context"]["username"].encode())
            sent += 1
            pacer.wait(sent)
            if time.monotonic() - last_report >= 5:
                last_report = time.monotonic()
                click.echo(f"loadgen: {sent} events in {last_report - started:.0f} s", err=True)
    except KeyboardInterrupt:
        pass
    failed = sink.close()
    elapsed = time.monotonic() - started
    click.echo(f"loadgen: produced {sent} events in {elapsed:.1f} s ({sent / elapsed:,.0f} events/s); "
               f"delivery failures: {failed}", err=True)
    if failed:
        raise click.ClickException(f"{failed} event(s) were not accepted by the broker")

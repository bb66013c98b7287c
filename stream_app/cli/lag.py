"""`stream-app lag`: print end-to-end lag (event time → statement record, and → LRS) every interval while it runs.

Each report line covers the statements that arrived during the interval; the
closing lines cover the whole run. With `--metrics` (a worker's web URL,
repeatable) it also reports, per router, the lag to the LRS: event time →
the endpoint's 2xx, from the workers' delivery latency histograms. Pair it
with `stream-app loadgen`, whose events carry the time they were generated.
"""

from __future__ import annotations

import time

import click

from stream_app.kafka import bootstrap_servers
from stream_app.ops.delivery_lag import DeliveryLag, describe_buckets
from stream_app.ops.lag import LagMonitor, describe
from stream_app.settings import get_settings, parse_duration
from stream_app.topics import topics


@click.command("lag")
@click.option("--format", "fmt", type=click.Choice(["xapi", "caliper"]), default="xapi", show_default=True,
              help="Which output topic to watch.")
@click.option("--interval", default="5s", show_default=True, help="Time between reports (e.g. 5s).")
@click.option("--duration", default=None, help="Stop after this long (default: until Ctrl-C).")
@click.option("--idle", default=None, help="Stop once no statement arrived for this long (after the first one).")
@click.option("--broker", default=None, help="Broker URL(s) (default: STREAM_APP_BROKER).")
@click.option("--registry", default=None, help="Schema registry URL (default: STREAM_APP_SCHEMA_REGISTRY_URL).")
@click.option("--metrics", "metrics_urls", multiple=True, metavar="URL",
              help="A worker's web URL (e.g. http://127.0.0.1:6066), repeatable: also report lag to each router's "
                   "LRS, from the workers' delivery latency histograms.")
def lag_command(fmt: str, interval: str, duration: str | None, idle: str | None, broker: str | None,
                registry: str | None, metrics_urls: tuple[str, ...]) -> None:
    """Report end-to-end lag percentiles of the statements emitted from now on."""
    settings = get_settings()
    every, limit = parse_duration(interval), parse_duration(duration) if duration else None
    quiet = parse_duration(idle) if idle else None
    topic = topics()[fmt].name
    monitor = LagMonitor(bootstrap_servers(broker or settings.broker), registry or settings.schema_registry_url,
                         topic, fmt)
    delivery = DeliveryLag(list(metrics_urls)) if metrics_urls else None
    click.echo(f"lag of {topic}: event time → statement record timestamp; a line every {every:g} s", err=True)
    started = last_report = time.monotonic()
    last_record: float | None = None
    try:
        while True:
            now = time.monotonic()
            if limit is not None and now - started >= limit:
                break
            if quiet is not None and last_record is not None and now - last_record >= quiet:
                break
            if monitor.poll(min(0.5, every)):
                last_record = time.monotonic()
            if time.monotonic() - last_report >= every:
                last_report = time.monotonic()
                click.echo(f"lag {last_report - started:6.1f} s: {describe(monitor.stats.take_window())}")
                if delivery is not None:
                    _report_delivery(delivery, f"{last_report - started:6.1f} s")
    except KeyboardInterrupt:
        pass
    finally:
        monitor.close()
    click.echo(f"lag total: {describe(monitor.stats.total)} (of {monitor.stats.count} statements)")
    if delivery is not None:
        delivery.take_window()  # what was delivered since the last report belongs in the totals
        for router, buckets in sorted(delivery.total.items()):
            click.echo(f"lrs total {router}: {describe_buckets(buckets)}")


def _report_delivery(delivery: DeliveryLag, when: str) -> None:
    window = delivery.take_window()
    for url in sorted(delivery.failed):
        click.echo(f"lag: no answer from {url}; its last figures are kept", err=True)
    for router, buckets in sorted(window.items()):
        click.echo(f"lrs {when} {router}: {describe_buckets(buckets)}")

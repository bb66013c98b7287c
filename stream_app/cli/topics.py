"""`stream-app topics create`: create every topic of topics.yaml (and the routers' retry topics) on the broker.

What a worker does at its first start, as a separate step an installer can run
before any worker exists (the Tutor plugin's init task does): same declarations
(STREAM_APP_TOPICS_FILE), same partitions and replication
(STREAM_APP_PARTITIONS, STREAM_APP_REPLICATION_FACTOR), same retry topics per
router of STREAM_APP_ROUTERS_FILE. Existing topics are left as they are, so the
command can run again at every upgrade.
"""

from __future__ import annotations

import click

from stream_app.delivery.routers import RoutersFileError, configured
from stream_app.kafka import bootstrap_servers, ensure_topics
from stream_app.settings import get_settings
from stream_app.topics import TopicsFileError, concrete, topics


@click.group("topics")
def topics_group() -> None:
    """Manage the topics stream_app reads and writes."""


@topics_group.command("create")
@click.option("--broker", default=None, help="Broker URL(s) (default: STREAM_APP_BROKER).")
@click.option("--partitions", type=int, default=None, help="Default partitions (default: STREAM_APP_PARTITIONS).")
@click.option("--replication-factor", type=int, default=None,
              help="Replication factor (default: STREAM_APP_REPLICATION_FACTOR).")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the broker to answer.")
def create_command(broker: str | None, partitions: int | None, replication_factor: int | None,
                   timeout: float) -> None:
    """Create the declared topics that do not exist yet; print each one created."""
    settings = get_settings()
    try:
        http, sinks = configured(settings)
        routers = [(r.name, len(r.retry_delays)) for r in http] + [(r.name, len(r.retry_delays)) for r in sinks]
        specs = concrete(topics(), routers)
    except (RoutersFileError, TopicsFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    created = ensure_topics(bootstrap_servers(broker or settings.broker), specs,
                            partitions or settings.partitions, replication_factor or settings.replication_factor,
                            timeout=timeout)
    for name in sorted(created):
        click.echo(f"created {name}")
    click.echo(f"{len(created)} topic(s) created, {len(specs) - len(created)} already there", err=True)

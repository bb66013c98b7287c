"""`stream-app replay`: move a stopped consumer group's offsets back (or forward) so it processes again.

By default it moves the workers' tracking consumer group (`STREAM_APP_INGEST_GROUP`,
default `<STREAM_APP_APP_ID>-ingest`) on the tracking topic, after checking that
the workers' Faust group is empty too: a worker started afterwards re-reads the tracking events
from the target and re-emits their statements (the same ids: they are
deterministic). Only the tracking topic is moved, on purpose: the internal
topics (events-by-actor, waiting, user-changes) carry work derived from
tracking records already read, and re-reading the tracking topic regenerates
it; moving them too would emit statements twice, and moving the CDC topics
would replay old dimension states over the tables. `--group G --topic T` does
the same for any other group, e.g. a downstream consumer of `openedx.xapi`.
"""

from __future__ import annotations

import click

from stream_app.kafka import bootstrap_servers
from stream_app.ops.offsets import GroupOffsets, ReplayError, Target, format_plan, parse_time
from stream_app.settings import get_settings
from stream_app.topics import topics


@click.command("replay")
@click.option("--to-datetime", "to_datetime", default=None,
              help="ISO 8601 time (naive = UTC): resume at the first record produced at or after it.")
@click.option("--to-earliest", is_flag=True, help="Resume at the oldest record the topic still holds.")
@click.option("--to-offset", type=int, default=None, help="Resume at this offset in every partition (clamped).")
@click.option("--group", default=None,
              help="Consumer group (default: the workers' tracking group, STREAM_APP_INGEST_GROUP).")
@click.option("--topic", default=None,
              help="Topic name or topics.yaml key (default: the tracking topic).")
@click.option("--broker", default=None, help="Broker URL(s) (default: STREAM_APP_BROKER).")
@click.option("--dry-run", is_flag=True, help="Print the planned offsets per partition; change nothing.")
def replay_command(to_datetime: str | None, to_earliest: bool, to_offset: int | None, group: str | None,
                   topic: str | None, broker: str | None, dry_run: bool) -> None:
    """Reset a stopped group's committed offsets so that it re-processes from a time or offset.

    Every member of the group must be stopped first. Record timestamps are
    the times records were produced to Kafka (for `stream-app load`: when the
    backfill ran, not when the events happened).
    """
    chosen = [to_datetime is not None, to_earliest, to_offset is not None]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one of --to-datetime, --to-earliest, --to-offset")
    settings = get_settings()
    specs = topics()
    name = specs[topic].name if topic is not None and topic in specs else (topic or specs.tracking.name)
    workers = group is None
    group = group or settings.tracking_group()
    try:
        target = Target(timestamp_ms=parse_time(to_datetime) if to_datetime else None, offset=to_offset,
                        earliest=to_earliest)
    except ReplayError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-datetime") from exc
    offsets = GroupOffsets(bootstrap_servers(broker or settings.broker), group, name, settings.broker_flavor)
    try:
        offsets.check_idle()
        if workers:
            # Every worker is in both groups; a worker that is still starting may not have joined the other yet.
            faust_group = GroupOffsets(bootstrap_servers(broker or settings.broker), settings.app_id, name,
                                       settings.broker_flavor)
            try:
                faust_group.check_idle()
            finally:
                faust_group.close()
        plans = offsets.plan(target)
        click.echo(format_plan(group, name, target, plans))
        if dry_run:
            click.echo("dry run: nothing changed")
            return
        offsets.check_idle()  # planning can take a while on a scanned topic: a worker may have started since
        offsets.apply(plans)
        click.echo(f"applied: start the workers of {group!r} to re-process from the new offsets")
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        offsets.close()

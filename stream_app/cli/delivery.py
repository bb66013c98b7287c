"""`stream-app dead-letter stats|redrive` and `stream-app redeliver`: the operator's delivery commands.

They use the worker's settings (STREAM_APP_BROKER, STREAM_APP_ROUTERS_FILE,
STREAM_APP_TOPICS_FILE, ...) and print JSON, so they work the same from a shell
and from scripts. See `stream_app.ops.redrive` for what they do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
import orjson

from stream_app.delivery.routers import Router, RoutersFileError, configured_routers
from stream_app.ops import redrive as ops
from stream_app.settings import get_settings


def _routers() -> dict[str, Router]:
    try:
        return {r.name: r for r in configured_routers(get_settings())}
    except RoutersFileError as exc:
        raise click.ClickException(f"invalid routers file: {exc}") from None


def _when(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return ops.parse_when(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected an ISO 8601 time or a duration such as 2h") from None


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ops.RedriveError as exc:
        raise click.ClickException(str(exc)) from None


def _print(data: object) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@click.group("dead-letter")
def dead_letter_group() -> None:
    """Inspect and re-drive the dead-letter topic."""


@dead_letter_group.command("stats")
@click.option("--stage", type=click.Choice(["deliver", *ops.EVENT_STAGES]), default=None,
              help="Only dead letters of this stage (e.g. legacy: old log lines named by their event_type).")
def stats_command(stage: str | None) -> None:
    """Counts by router (or stage), reason and age."""
    stats = ops.Stats()
    now = time.time()
    with _errors():
        for _message, record in ops.dead_letters(get_settings()):
            if stage is None or record.get("stage") == stage:
                stats.add(record, now)
    _print(stats.as_dict())


@dead_letter_group.command("redrive")
@click.option("--router", help="Only this router's dead letters.")
@click.option("--reason", help="Only reasons starting with this (e.g. http_400, unknown_user).")
@click.option("--since", help="Only dead letters since this time (ISO 8601, or a duration ago such as 2h).")
@click.option("--stage", type=click.Choice(["deliver", *ops.EVENT_STAGES]), default="deliver", show_default=True,
              help="deliver: back through the router's retry chain; event stages: back onto the tracking topic.")
@click.option("--dry-run", is_flag=True, help="Count what would be re-driven, send nothing.")
def redrive_command(router: str | None, reason: str | None, since: str | None, stage: str, dry_run: bool) -> None:
    """Send dead letters back through delivery (records that fail again return to the chain)."""
    routers = _routers()
    if router is not None and router not in routers:
        raise click.BadParameter(f"unknown router {router!r}; the routers file has {sorted(routers)}")
    with _errors():
        sent = ops.redrive(get_settings(), routers, ops.selector(router, reason, _when(since), stage), dry_run)
    _print({"dry_run": dry_run, "sent": dict(sent)})


@click.command("redeliver")
@click.option("--router", "name", required=True, help="The router to deliver to.")
@click.option("--since", required=True, help="Start (ISO 8601, or a duration ago such as 2h).")
@click.option("--until", help="End (default: now).")
@click.option("--dry-run", is_flag=True, help="Count what would be re-delivered, send nothing.")
def redeliver_command(name: str, since: str, until: str | None, dry_run: bool) -> None:
    """Re-deliver a time range of the output topic to one router (for LRS backfills)."""
    routers = _routers()
    if name not in routers:
        raise click.BadParameter(f"unknown router {name!r}; the routers file has {sorted(routers)}")
    start = _when(since)
    assert start is not None
    with _errors():
        count = ops.redeliver(get_settings(), routers[name], start, _when(until), dry_run)
    _print({"dry_run": dry_run, "router": name, "records": count})

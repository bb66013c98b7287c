"""`stream-app clickhouse`: backfill (`dump`) and retire users in the Aspects ClickHouse sink.

`dump` is our `dump_data_to_clickhouse`: it sends one object's rows from the data
we hold — the worker's changelog topics by default, or a CDC seed file with
`--cdc` — to a `type: clickhouse` router of the routers file. Without `--force`
only what changed since the previous dump is sent (see sinks/clickhouse/dump.py).
`retire` erases one user's personal data, for retirements that happened while
no worker was running.
"""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from stream_app.delivery.routers import ClickHouseRouter, RoutersFileError, load_clickhouse_routers
from stream_app.kafka import bootstrap_servers
from stream_app.settings import get_settings
from stream_app.sinks.clickhouse import ClickHouseError, ClickHouseSink, ObjectNotEnabled, SchemaError
from stream_app.sinks.clickhouse.dump import DUMP_OBJECTS, dump
from stream_app.sinks.clickhouse.sources import CdcFileSource, ChangelogSource, Source, SourceError
from stream_app.topics import TopicsFileError, topics

_ENROLLMENT_TOPIC_KEY = "cdc_course_enrollment"
_DEFAULT_ENROLLMENT_TOPIC = "openedx.cdc.student_courseenrollment"


def _router(routers_file: str | None, name: str | None) -> ClickHouseRouter:
    path = routers_file or get_settings().routers_file
    if not path:
        raise click.UsageError("no routers file: pass --routers-file or set STREAM_APP_ROUTERS_FILE")
    try:
        routers = load_clickhouse_routers(path)
    except RoutersFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if name is not None:
        for router in routers:
            if router.name == name:
                return router
        raise click.BadParameter(f"no clickhouse router named {name!r} in {path}", param_hint="--router")
    if len(routers) != 1:
        found = ", ".join(r.name for r in routers) or "none"
        raise click.UsageError(f"{path} has {len(routers)} clickhouse routers ({found}): choose one with --router")
    return routers[0]


def _open(router: ClickHouseRouter) -> ClickHouseSink:
    try:
        return ClickHouseSink.open(router)
    except (ClickHouseError, SchemaError) as exc:
        raise click.ClickException(f"router {router.name!r}: {exc}") from exc


def _source(cdc: str | None) -> Source:
    if cdc is not None:
        try:
            return CdcFileSource.from_path(cdc)
        except (OSError, SourceError) as exc:
            raise click.ClickException(str(exc)) from exc
    settings = get_settings()
    try:
        spec = topics().get(_ENROLLMENT_TOPIC_KEY)
    except TopicsFileError:
        spec = None
    return ChangelogSource(bootstrap_servers(settings.broker), settings.app_id,
                           spec.name if spec else _DEFAULT_ENROLLMENT_TOPIC)


@click.group("clickhouse")
def clickhouse_group() -> None:
    """ClickHouse sinks for Open edX Aspects: backfill and retirement."""


@clickhouse_group.command("dump")
@click.option("--object", "object_name", type=click.Choice(DUMP_OBJECTS), required=True, help="What to send.")
@click.option("--force", is_flag=True, help="Send everything, not only what changed since the last dump.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Rows per insert (default: the router's batch.size).")
@click.option("--sleep", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to pause between inserts, to spare a busy server.")
@click.option("--router", "router_name", default=None, help="The clickhouse router (needed if there are several).")
@click.option("--routers-file", default=None, help="Routers file (default: STREAM_APP_ROUTERS_FILE).")
@click.option("--cdc", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Read a JSONL CDC seed ({topic, key, value}) instead of the worker's changelog topics.")
def dump_command(object_name: str, force: bool, batch_size: int | None, sleep: float, router_name: str | None,
                 routers_file: str | None, cdc: str | None) -> None:
    """Backfill one Aspects event-sink table from the data stream_app holds."""
    router = _router(routers_file, router_name)
    if object_name not in router.objects:
        hint = " and 'pii: true'" if object_name in ("user_profile", "external_id") else ""
        raise click.UsageError(f"router {router.name!r} does not send {object_name}: add it to 'objects'{hint}")
    source = _source(cdc)
    settings = get_settings()
    namespace = settings.external_id_namespace if settings.generate_external_ids else None
    sink = _open(router)
    try:
        result = dump(sink, source, object_name, force=force, batch_size=batch_size or router.batch_size,
                      sleep=sleep, namespace=namespace,
                      progress=lambda it: tqdm(it, unit=" records", desc=object_name, file=sys.stderr,
                                               disable=not sys.stderr.isatty()))
    except (ClickHouseError, SourceError, ObjectNotEnabled) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sink.close()
    rejected = sum(result.rejected.values())
    detail = ", ".join(f"{reason}={n}" for reason, n in sorted(result.rejected.items()))
    click.echo(f"{object_name}: records: {result.records}; rows sent: {result.rows}; unchanged: {result.unchanged}; "
               f"rejected: {rejected}" + (f" ({detail})" if detail else ""), err=True)


@clickhouse_group.command("retire")
@click.argument("user_id", type=int)
@click.option("--router", "router_name", default=None, help="The clickhouse router (needed if there are several).")
@click.option("--routers-file", default=None, help="Routers file (default: STREAM_APP_ROUTERS_FILE).")
def retire_command(user_id: int, router_name: str | None, routers_file: str | None) -> None:
    """Erase a retired user's personal data (user_profile, external_id; the username in course_enrollment)."""
    sink = _open(_router(routers_file, router_name))
    try:
        sink.retire_user(user_id)
    except ClickHouseError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sink.close()
    click.echo(f"user {user_id}: personal data erased", err=True)

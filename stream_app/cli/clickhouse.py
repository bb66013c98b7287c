"""`stream-app clickhouse`: backfill (`dump`) and retire users in the Aspects ClickHouse sink.

`dump` is our `dump_data_to_clickhouse`: it sends one object's rows from the data
we hold — the worker's changelog topics by default, or a CDC seed file with
`--cdc` — to a `type: clickhouse` router of the routers file. Without `--force`
only what changed since the previous dump is sent (see sinks/clickhouse/dump.py).
`retire` erases one user's personal data, for retirements that happened while
no worker was running. `query` runs one bounded read-only SELECT on the sink's
tables: with `--worker URL` through the running worker (the only way into an
embedded chDB directory while the worker holds it), else directly.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import Any

import click
import orjson
from tqdm import tqdm

from stream_app.delivery.routers import ClickHouseRouter, RoutersFileError, load_clickhouse_routers
from stream_app.kafka import bootstrap_servers
from stream_app.settings import get_settings
from stream_app.sinks.clickhouse import ClickHouseError, ClickHouseSink, ObjectNotEnabled, SchemaError, open_client
from stream_app.sinks.clickhouse.dump import DUMP_OBJECTS, dump
from stream_app.sinks.clickhouse.readonly import DEFAULT_ROWS, MAX_ROWS, QueryRefused, bounded_select, run_select
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
    """ClickHouse sinks for Open edX Aspects: backfill, retirement and read-only queries."""


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


def _through_worker(worker: str, sql: str, router: str | None, limit: int) -> dict[str, Any]:
    url = worker.rstrip("/")
    if not url.endswith("/stream-app/clickhouse/query"):
        url += "/stream-app/clickhouse/query"
    request = urllib.request.Request(url + "/", data=orjson.dumps({"sql": sql, "router": router, "limit": limit}),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=90.0) as answer:  # noqa: S310 — an operator-given http URL
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as exc:  # 4xx/5xx: the worker's JSON error is in the body
        status, text = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"worker at {worker} did not answer: {exc}") from exc
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise click.ClickException(f"worker at {worker} answered HTTP {status} without a JSON object "
                                   "(is it a stream_app worker's web port?)")
    if status != 200:
        raise click.ClickException(str(body.get("error") or f"HTTP {status}"))
    return body


def _direct(sql: str, router_name: str | None, routers_file: str | None, limit: int) -> dict[str, Any]:
    router = _router(routers_file, router_name)
    password = router.password.get_secret_value() if router.password else ""
    try:
        # The bare client, no schema check: reading needs no CREATE rights. A chDB directory the worker
        # holds fails here, in one line saying so and pointing at --worker.
        client = open_client(router.url, router.username, password, router.timeout)
    except ClickHouseError as exc:
        raise click.ClickException(f"router {router.name!r}: {exc}") from exc
    try:
        result = run_select(client.query, sql, limit)
    except (QueryRefused, ClickHouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        client.close()
    return {"router": router.name, **result.as_dict()}


@clickhouse_group.command("query")
@click.argument("sql")
@click.option("--worker", default=None, metavar="URL",
              help="A running worker's web address (e.g. http://127.0.0.1:6066): query through it, as an embedded "
                   "chDB directory can only be read by the process that holds it.")
@click.option("--router", "router_name", default=None, help="The clickhouse router (needed if there are several).")
@click.option("--routers-file", default=None, help="Routers file (default: STREAM_APP_ROUTERS_FILE).")
@click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=DEFAULT_ROWS, show_default=True,
              help="At most this many rows.")
def query_command(sql: str, worker: str | None, router_name: str | None, routers_file: str | None,
                  limit: int) -> None:
    """Run one read-only SELECT on a clickhouse router's tables; print one JSON object per row."""
    try:
        bounded_select(sql, limit)  # refuse here what the worker would refuse, without a round trip
    except QueryRefused as exc:
        raise click.ClickException(str(exc)) from exc
    body = _through_worker(worker, sql, router_name, limit) if worker else _direct(sql, router_name, routers_file,
                                                                                  limit)
    for row in body.get("rows") or []:
        click.echo(orjson.dumps(row).decode())
    more = f" (truncated at --limit {limit})" if body.get("truncated") else ""
    click.echo(f"router {body.get('router')}: {body.get('count', 0)} row(s){more}", err=True)

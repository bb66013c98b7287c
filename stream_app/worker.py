"""The worker: validates its settings, builds its parts once and registers every agent and web view with them.

`faust -A stream_app worker` and `python -m stream_app worker` both load this
module (through `stream_app.app`). First the settings and the routers file are
validated (`_check_or_exit`: one line and exit status 2 for a bad value, read
once here); a `chdb://` ClickHouse sink without the `chdb` extra installed
stops it there too (the sink opens lazily, in an agent that would otherwise
retry the import forever). Global-table stores written by a version that
could skip their changes are deleted, once, to be rebuilt from their changelogs
(`tables.stream.rebuild_unsafe_global_stores`). Then `stream_app.context.build` makes the parts the
agents share, and each agent module's `register` defines its agents with them,
in the one explicit list below: adding an agent module means adding it here.
Once started, the worker moves what starting allocated out of the garbage
collector's sight (`gc.freeze`).
"""

from __future__ import annotations

import gc
import sys

from pydantic import ValidationError

from stream_app.delivery.routers import (
    ClickHouseRouter,
    Router,
    RoutersFileError,
    configured,
)
from stream_app.extras import MissingExtra, require
from stream_app.settings import Settings, get_settings


def _check_or_exit() -> tuple[Settings, list[Router], list[ClickHouseRouter]]:
    """Exit with status 2 and one line on stderr when a setting or the routers file is invalid.

    Returns the settings, the HTTP routers and the ClickHouse sinks, as validated.
    """
    try:
        settings = get_settings()
        settings.format_list()
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = f"STREAM_APP_{str(first['loc'][0]).upper()}: {first['msg']}" if first else str(exc)
        print(f"stream_app: invalid setting: {where}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        routers, sinks = configured(settings)  # the routers file, read once
    except RoutersFileError as exc:
        # One line naming the router and field: what an operator needs to fix the file.
        print(f"stream_app: invalid routers file: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        for sink in sinks:
            if sink.chdb_path is not None:
                require("chdb", f"stream_app: ClickHouse router {sink.name!r} ({sink.url})")
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    return settings, routers, sinks


_settings, _routers, _sinks = _check_or_exit()

from stream_app import context, web  # noqa: E402
from stream_app.agents import alerts, cdc, clickhouse, delivery, enrich, ingest, waiting  # noqa: E402
from stream_app.application import app  # noqa: E402
from stream_app.tables.stream import rebuild_unsafe_global_stores  # noqa: E402

rebuild_unsafe_global_stores(app.conf.tabledir)  # before Faust opens any store
app.retry_tiers = [(r.name, len(r.retry_delays)) for r in _routers] + [(s.name, len(s.retry_delays)) for s in _sinks]
ctx = context.build(app, _settings, _routers, _sinks)
_enricher = enrich.register(ctx)
_ingest = ingest.register(ctx, _enricher)
waiting.register(ctx, _enricher)
cdc.register(ctx)
_delivery = delivery.register(ctx)
_sinks_open = clickhouse.register(ctx, _delivery)
alerts.register(ctx)
web.register(ctx, _ingest, _sinks_open)


async def _freeze_startup_heap() -> None:
    # What starting made (modules, the app and its services, the parts above) lives as long as the worker: out
    # of the collector's sight, each full collection scans only what events make. Each took ~55 ms of the event
    # loop before (1.5% of it under load, and as much added to some events' latency).
    gc.freeze()


app.task(_freeze_startup_heap)

__all__ = ["app"]

"""The worker: the app plus every agent module and the web views, imported in one explicit list.

`faust -A stream_app worker` and `python -m stream_app worker` both load this
module (through `stream_app.app`). Adding an agent module means adding it here.
Before any of them is imported, the settings and the routers file are
validated (`_check_or_exit`): agent and web modules read both when they are
imported, so a bad value found there would surface as a traceback through
whichever module happened to import first. A `chdb://` ClickHouse sink without
the `chdb` extra installed stops it there too (the sink opens lazily, in an
agent that would otherwise retry the import forever).
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from stream_app.delivery.routers import RoutersFileError, configured_clickhouse, configured_routers
from stream_app.extras import MissingExtra, require
from stream_app.settings import get_settings


def _check_or_exit() -> list[tuple[str, int]]:
    """Exit with status 2 and one line on stderr when a setting or the routers file is invalid.

    Returns the retry tiers of every router: (name, number of retry topics).
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
        routers = configured_routers(settings)
        sinks = configured_clickhouse(settings)
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
    return [(r.name, len(r.retry_delays)) for r in routers] + [(s.name, len(s.retry_delays)) for s in sinks]


_retry_tiers = _check_or_exit()

from stream_app import web  # noqa: E402,F401  (imported to register the pages)
from stream_app.agents import alerts, cdc, clickhouse, delivery, enrich, ingest, waiting  # noqa: E402,F401
from stream_app.application import app  # noqa: E402

app.retry_tiers = _retry_tiers

__all__ = ["app"]

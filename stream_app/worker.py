"""The worker: the app plus every agent module and the web views, imported in one explicit list.

`faust -A stream_app worker` and `python -m stream_app worker` both load this
module (through `stream_app.app`). Adding an agent module means adding it here.
Configuration the worker cannot run with stops it here with one line: an
invalid routers file, or a `chdb://` ClickHouse sink without the `chdb` extra.
"""

from __future__ import annotations

from stream_app.agents import cdc, ingest, tracking, waiting  # noqa: F401  (imported to register the agents)
from stream_app.application import app
from stream_app.delivery.routers import RoutersFileError
from stream_app.extras import MissingExtra, require

try:
    # The web views read the routers too (through the delivery and ClickHouse agents): inside the `try`.
    from stream_app import web  # noqa: F401  (imported to register the pages)
    from stream_app.agents import alerts, clickhouse, delivery  # noqa: F401  (agents per router and retry tier)
except RoutersFileError as exc:
    # An invalid routers file stops the worker with one line naming the router and field.
    raise SystemExit(f"stream_app: invalid routers file: {exc}") from None

try:
    for _sink in clickhouse.SINKS:
        if _sink.chdb_path is not None:
            require("chdb", f"stream_app: ClickHouse router {_sink.name!r} ({_sink.url})")
except MissingExtra as exc:
    # Checked at start-up: the sink opens lazily, in an agent that would retry the import forever.
    raise SystemExit(str(exc)) from None

__all__ = ["app"]

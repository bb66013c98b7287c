"""Web views on the worker: health, table sizes, and tables by key (routed to the owning worker).

`/stream-app/users/{key}` is served by the worker that owns the key's partition
(Faust's `table_route` forwards the request) and shows users only (entries
without an auth_user row, pending or deleted, show as null); the username index, courses and
blocks are global, so any worker answers. Personal data
(email, name) is masked unless `STREAM_APP_WEB_SHOW_PERSONAL_DATA=true`.
`/stream-app/clickhouse/query/` runs one bounded read-only SELECT on a
clickhouse router's sink through the worker's own connection: an embedded chDB
directory can be opened by one process only, and while the worker runs that is
the worker (`stream-app clickhouse query --worker URL` calls it). `register`
adds the pages to the worker's app with the parts they show; nothing happens at
import.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust.web import View

from stream_app.agents.clickhouse import Sinks
from stream_app.agents.ingest import Reader
from stream_app.agents.stats import in_retry_topics
from stream_app.codecs.registry import WAITING
from stream_app.context import Context
from stream_app.metrics import REGISTRY, WorkerCollector, partition_lags, render
from stream_app.sinks.clickhouse import ClickHouseError
from stream_app.sinks.clickhouse.readonly import DEFAULT_ROWS, QueryRefused, run_select
from stream_app.tables.stream import TABLES, blocks, courses, usernames, users

PERSONAL = ("email", "name", "profile")


def mask(record: Any, show: bool = False) -> Any:
    """A user record with personal fields masked (unless showing them is enabled: `show`)."""
    if not isinstance(record, dict) or show:
        return record
    return {k: ("***" if k in PERSONAL and v else v) for k, v in record.items()}


def user_view(record: Any, show: bool = False) -> dict[str, Any]:
    """The web view of one users-table entry: only users (auth_user row seen) show a value."""
    if not isinstance(record, dict):
        return {"value": None, "state": "absent"}
    if record.get("deleted"):
        return {"value": None, "state": "deleted"}
    if not record.get("known"):
        return {"value": None, "state": "pending"}
    return {"value": mask(record, show), "state": "user"}



class ClickHouseQuery(View):
    """One read-only SELECT on a clickhouse router's tables: GET `?sql=...&router=...&limit=...`, or POST
    the same as a JSON object. Answers `{router, rows, count, limit, truncated}`, or `{error}` with 400 (refused
    or failed query), 404 (no such router) or 503 (the sink cannot be opened)."""

    async def get(self, request: Any, **kwargs: Any) -> Any:
        return await self._answer(dict(request.query))

    async def post(self, request: Any, **kwargs: Any) -> Any:
        try:
            params = orjson.loads(await self.read_request_content(request) or b"{}")
        except orjson.JSONDecodeError:
            return self.json({"error": "the body must be a JSON object {sql, router, limit}"}, status=400)
        if not isinstance(params, dict):
            return self.json({"error": "the body must be a JSON object {sql, router, limit}"}, status=400)
        return await self._answer(params)

    sinks: Sinks  # set by `register`

    async def _answer(self, params: dict[str, Any]) -> Any:
        routers = {router.name: router for router in self.sinks.ctx.sinks}
        name = params.get("router") or (next(iter(routers)) if len(routers) == 1 else None)
        if name not in routers:
            found = ", ".join(sorted(routers)) or "none"
            return self.json({"error": f"no clickhouse router {name!r} on this worker (routers: {found}); "
                                       "name one with router="}, status=404)
        try:
            limit = int(params.get("limit") or DEFAULT_ROWS)
        except (TypeError, ValueError):
            return self.json({"error": "limit must be a whole number of rows"}, status=400)
        sql = params.get("sql")
        if not isinstance(sql, str):
            return self.json({"error": "sql= is required"}, status=400)
        try:
            sink = await self.sinks.of(routers[name])
        except ClickHouseError as exc:
            return self.json({"error": f"router {name!r}: {exc}"}, status=503)
        try:
            # Off the event loop: the sink's client is synchronous (and shared with the inserts, under its lock).
            result = await asyncio.to_thread(run_select, sink.query, sql, limit)
        except (QueryRefused, ClickHouseError) as exc:
            return self.json({"error": str(exc)}, status=400)
        return self.json({"router": name, **result.as_dict()})


def register(ctx: Context, ingest: Reader, sinks: Sinks) -> None:
    """Add the pages to the worker's app: counters, routers, tables and ClickHouse queries of this worker."""
    app = ctx.app

    @app.page("/stream-app/health/")
    async def health(web: Any, request: Any) -> Any:
        """Liveness, a few counters, and what the stream is waiting for (the schema registry)."""
        # Still "ok" while waiting: the worker is alive, and restarting it would not bring the registry back.
        waiting = [{"for": what, "since": since, "error": error} for what, (since, error) in WAITING.items()]
        return web.json({"status": "ok", "app": ctx.settings.app_id, "counts": dict(ctx.counts), "waiting": waiting})


    REGISTRY.register(WorkerCollector(ctx.counts, ctx.stats, lambda: getattr(app, "_consumer", None),
                                          lambda: ingest.lag))


    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        """Prometheus metrics (text exposition format)."""
        # aiohttp refuses parameters in content_type; Prometheus reads plain text as format 0.0.4.
        return web.bytes(render(), content_type="text/plain")


    @app.page("/stream-app/routers/")
    async def routers(web: Any, request: Any) -> Any:
        """Per router on this worker: delivered, retrying, dead-lettered and filtered counts, last success and error.

        `in_retry_topics` is what waits in the router's retry topics now (on this worker's partitions).
        """
        lags = partition_lags(getattr(app, "_consumer", None))
        tiers = {r.name: len(r.retry_delays) for r in ctx.routers}
        tiers.update((sink.name, len(sink.retry_delays)) for sink in ctx.sinks)
        return web.json({name: {**ctx.stats[name].as_dict(), "in_retry_topics": in_retry_topics(lags, name, n)}
                         for name, n in sorted(tiers.items())})


    @app.page("/stream-app/tables/")
    async def table_sizes(web: Any, request: Any) -> Any:
        """Entries per table held by this worker (partitioned tables: its own partitions only)."""
        return web.json({name: len(table) for name, table in TABLES.items()})


    @app.page("/stream-app/users/{key}/")
    @app.table_route(table=users, match_info="key")
    async def user_by_id(web: Any, request: Any, key: str) -> Any:
        """One user record by user id; `value` is null unless the user's auth_user row exists.

        `state` says what the table holds: `user`, `pending` (child rows waiting for their auth_user
        row), `deleted` (a deletion marker) or `absent`.
        """
        return web.json({"key": key, **user_view(users.get(key), ctx.settings.web_show_personal_data)})


    @app.page("/stream-app/usernames/{key}/")
    async def user_id_by_username(web: Any, request: Any, key: str) -> Any:
        """The user id of a username (then see /stream-app/users/<id>/)."""
        return web.json({"key": key, "value": usernames.get(key)})


    @app.page("/stream-app/courses/{key}/")
    async def course_by_key(web: Any, request: Any, key: str) -> Any:
        """One course overview by course key."""
        return web.json({"key": key, "value": courses.get(key)})


    @app.page("/stream-app/blocks/{key}/")
    async def block_by_key(web: Any, request: Any, key: str) -> Any:
        """One block by usage key."""
        return web.json({"key": key, "value": blocks.get(key)})

    query = type("ClickHouseQuery", (ClickHouseQuery,), {"sinks": sinks})
    app.page("/stream-app/clickhouse/query/")(query)

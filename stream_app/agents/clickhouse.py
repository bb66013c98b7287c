"""ClickHouse sink agents (`type: clickhouse` routers): statements through the retry chain, dimensions from CDC.

Statements come from the xAPI output topic through the same delivery agents as
HTTP routers (batching, retry topics, dead letters), with a `ClickHouseSender`:
a failed insert (server down, timeout) sends the whole batch along the retry
chain; a record that cannot become a row is dead-lettered. Course overviews,
course blocks and enrollments are written from their CDC topics, in batches;
when ClickHouse is unreachable the batch is retried in place, with growing
pauses, and not acknowledged before it is stored, so an outage loses nothing
and the latest version of a row still lands last. Users' profiles and external
ids (personal data: only with `pii: true`) are rewritten from `user-changes`,
read from the `users` table once `update_users` has applied the change
(`agents/progress.py`). A change writes only the objects its table feeds, and
content the sink already holds for that user is not written again (`Written`),
so a re-applied or unrelated change adds no copy under a new
`time_last_dumped`. An `auth_user` delete erases the user's personal data from
the sink (Aspects' retirement). `register` makes the worker's `Sinks` (each
router's sink, opened on first use) and the agents.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson

from stream_app.agents.cdc import CDC_TOPICS, decode_user_change
from stream_app.agents.delivery import Delivery, Item
from stream_app.context import Context, log
from stream_app.delivery.outcome import Outcome
from stream_app.delivery.routers import ClickHouseRouter
from stream_app.errors import TransformError
from stream_app.sinks.clickhouse import (
    ClickHouseError,
    ClickHouseSink,
    RowError,
    changed_at,
    course_block_rows,
    course_enrollment_row,
    course_overview_row,
    external_id_rows,
    statement_row,
    user_profile_row,
)
from stream_app.sinks.clickhouse.enrollments import change_ms, decode_enrollment
from stream_app.tables.cdc import Change, decode
from stream_app.tables.dimensions import block_row, course_row, is_deleted, user_record
from stream_app.tables.stream import blocks, external_id_types, user_names, users

Rows = list[dict[str, Any]]


class Sinks:
    """The ClickHouse routers' sinks on this worker, each opened (its schema created or checked) on first use."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._open: dict[str, ClickHouseSink] = {}
        self._written: dict[str, Written] = {}

    async def of(self, router: ClickHouseRouter) -> ClickHouseSink:
        """The router's sink, opened on first use."""
        sink = self._open.get(router.name)
        if sink is None:
            sink = self._open[router.name] = await asyncio.to_thread(ClickHouseSink.open, router)
        return sink

    def written(self, router: ClickHouseRouter) -> Written:
        """What the router's personal-data agent last stored for each recent user."""
        return self._written.setdefault(router.name, Written())

    def forget(self, router: ClickHouseRouter) -> None:
        """Reconnect (and re-check the schema) next time: the connection failed."""
        self._open.pop(router.name, None)

    async def until_done(self, router: ClickHouseRouter, what: str,
                         step: Callable[[ClickHouseSink], Awaitable[Any]]) -> None:
        """Run `step` on the router's sink, retrying in place with growing pauses while ClickHouse is
        unreachable: nothing is dropped, and what comes later waits (the latest row must land last)."""
        pause = 1.0
        while True:
            try:
                await step(await self.of(router))
                return
            except ClickHouseError as exc:
                self.forget(router)
                self.ctx.stats[router.name].last_error = f"{what}: clickhouse_unavailable"
                log.warning("clickhouse router %s: %s failed (%s); retrying in %.0f s", router.name, what, exc,
                            pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60.0)

    async def write_until_stored(self, router: ClickHouseRouter, object_name: str, rows: Rows) -> None:
        await self.until_done(router, object_name, lambda sink: sink.write(object_name, rows))
        self.ctx.stats[router.name].rows_written += len(rows)


class ClickHouseSender:
    """Statements into `xapi_events_all`: one insert per batch."""

    def __init__(self, router: ClickHouseRouter, sinks: Sinks) -> None:
        self.router = router
        self.sinks = sinks

    async def deliver(self, items: list[Item]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(items)
        rows, positions = [], []
        for i, item in enumerate(items):
            try:
                rows.append(statement_row(item.record or {}))
                positions.append(i)
            except RowError as exc:
                outcomes[i] = Outcome("dead", f"invalid_row:{exc}")
        try:
            if rows:
                await (await self.sinks.of(self.router)).write("statements", rows)
            done = Outcome("delivered", "ok")
        except ClickHouseError as exc:
            done = Outcome("retry", "clickhouse_unavailable", body=str(exc)[:500])
            self.sinks.forget(self.router)
        for i in positions:
            outcomes[i] = done
        return [o if o is not None else done for o in outcomes]


def _course_rows(changes: list[tuple[Change, int | None]]) -> Rows:
    rows = []
    for change, ms in changes:
        course_id, record = course_row(change)
        if record is not None:
            rows.append(course_overview_row(course_id, {**(change.row or {}), **record}, changed_at(ms)))
    return rows


def _block_rows(changes: list[tuple[Change, int | None]]) -> Rows:
    # A block's order depends on its siblings: rewrite every block of each course that changed.
    touched: dict[str, dict[str, Any]] = defaultdict(dict)
    latest: dict[str, int | None] = {}
    for change, ms in changes:
        usage_key, record = block_row(change)
        if record is not None and isinstance(record.get("course_id"), str):
            touched[record["course_id"]][usage_key] = {**(change.row or {}), **record}
            latest[record["course_id"]] = ms
    rows: Rows = []
    for course_id, changed in touched.items():
        known = {k: v for k, v in blocks.items() if isinstance(v, dict) and v.get("course_id") == course_id}
        rows += course_block_rows(course_id, {**known, **changed}, changed_at(latest[course_id]))
    return rows


def _dimension_agent(sinks: Sinks, router: ClickHouseRouter, topic_key: str, object_name: str,
                     build: Callable[[list[tuple[Change, int | None]]], Rows]) -> None:
    ctx = sinks.ctx

    async def write_dimension(stream: Any) -> None:
        async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
            changes: list[tuple[Change, int | None]] = []
            for event in batch:
                try:
                    change = decode(event.message.key, event.message.value, CDC_TOPICS[topic_key])
                except TransformError as exc:
                    ctx.dead_letter("clickhouse", exc.reason, event.message, router=router.name)
                    continue
                if change is not None:
                    changes.append((change, change_ms(event.message.value) or int(event.message.timestamp * 1000)))
            try:
                rows = build(changes)
            except RowError as exc:
                ctx.dead_letter("clickhouse", f"invalid_row:{exc}", batch[-1].message, router=router.name)
                continue
            if rows:
                await sinks.write_until_stored(router, object_name, rows)

    ctx.app.agent(ctx.channel(ctx.topics[topic_key]), name=f"clickhouse-{router.name}-{object_name}")(write_dimension)


def _enrollment_agent(sinks: Sinks, router: ClickHouseRouter) -> None:
    ctx = sinks.ctx

    async def write_enrollments(stream: Any) -> None:
        async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
            rows = []
            for event in batch:
                message = event.message
                try:
                    change = decode_enrollment(message.key, message.value)
                    if change is not None and change.row is not None:
                        username = user_names.get(str(change.row["user_id"]))
                        ms = change_ms(message.value) or int(message.timestamp * 1000)
                        rows.append(course_enrollment_row(change.row, changed_at(ms), username))
                except (TransformError, RowError) as exc:
                    ctx.dead_letter("clickhouse", getattr(exc, "reason", str(exc)), message, router=router.name)
            if rows:
                await sinks.write_until_stored(router, "course_enrollment", rows)

    channel = ctx.channel(ctx.topics["cdc_course_enrollment"])
    ctx.app.agent(channel, name=f"clickhouse-{router.name}-enrollments")(write_enrollments)


# Which personal-data objects a change of each user table can alter (auth_user feeds both).
_FEEDS = {"auth_userprofile": ("user_profile",), "external_user_ids_externalid": ("external_id",)}


def _user_rows(router: ClickHouseRouter, message: Any) -> tuple[str, dict[str, Rows]]:
    """(user id, the `user_profile` and `external_id` rows one `user-changes` record can alter, as the
    users table has them once `update_users` has applied the record)."""
    user_id, table, _ = decode_user_change(message)
    record = users.get(user_id)
    feeds = set(_FEEDS.get(table, ("user_profile", "external_id"))) & set(router.objects)
    if record is not None and is_deleted(record):
        return user_id, {name: [] for name in feeds}  # none left (the retirement agent erases the sink's)
    user = user_record(external_id_types, record, None)
    if user is None or record is None:
        return user_id, {}  # not known yet (rows before auth_user)
    changed = changed_at(int(message.timestamp * 1000))
    rows: dict[str, Rows] = {}
    if "user_profile" in feeds and record.get("profile") is not None:
        rows["user_profile"] = [user_profile_row(user, changed, record["profile"])]
    if "external_id" in feeds:
        rows["external_id"] = external_id_rows(user, changed)
    return user_id, rows


async def _applied(ctx: Context, batch: list[Any]) -> list[Any]:
    """The batch's records once `update_users` has applied them, less those of partitions this worker lost."""
    last: dict[Any, int] = {}
    for event in batch:
        last[event.message.tp] = max(event.message.offset, last.get(event.message.tp, -1))
    lost = set()
    for tp, offset in last.items():
        if not await ctx.users_applied.reach(tp, offset, ctx.assigned):
            lost.add(tp)
    return [event for event in batch if event.message.tp not in lost]


class Written:
    """The content last stored in the sink for each recently written (object, user), without dump stamps.

    Rows are stamped with the time of the change that produced them, and `time_last_dumped` is part
    of Aspects' sort key: storing unchanged content again adds a copy. Content is remembered only
    once stored (a write cut short by a rebalance is redone in full). Bounded, least recently written
    first out; a forgotten user is simply written again, which Aspects' "latest row" queries
    tolerate, and a replay after a restart reproduces its rows byte for byte anyway."""

    def __init__(self, size: int = 65_536) -> None:
        self.size = size
        self._content: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    @staticmethod
    def _unstamped(rows: Rows) -> bytes:
        # A digest of the rows less their stamps: ~150 bytes an entry, whatever the profile holds.
        content = orjson.dumps([{k: v for k, v in row.items() if k not in ("dump_id", "time_last_dumped")}
                                for row in rows], option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(content, digest_size=16).digest()

    def new_content(self, object_name: str, user_id: str, rows: Rows) -> bytes | None:
        """The digest of `rows` if they differ from what was last stored for the user, else None."""
        digest = self._unstamped(rows)
        return None if self._content.get((object_name, user_id)) == digest else digest

    def stored(self, object_name: str, user_id: str, digest: bytes) -> None:
        key = (object_name, user_id)
        self._content[key] = digest
        self._content.move_to_end(key)
        while len(self._content) > self.size:
            self._content.popitem(last=False)


def _personal_data_agent(sinks: Sinks, router: ClickHouseRouter) -> None:
    ctx = sinks.ctx
    written = sinks.written(router)

    async def write_users(stream: Any) -> None:
        async for batch in stream.take_events(router.batch_size, within=router.batch_max_wait):
            latest: dict[tuple[str, str], Rows] = {}  # the last rows of each object and user in the batch
            for event in await _applied(ctx, batch):
                try:
                    user_id, found = _user_rows(router, event.message)
                    for object_name, rows in found.items():
                        latest[(object_name, user_id)] = rows
                except (TransformError, RowError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    ctx.dead_letter("clickhouse", getattr(exc, "reason", f"invalid_row:{exc}"), event.message,
                                router=router.name)
            changed = {key: (rows, digest) for key, rows in latest.items()
                       if (digest := written.new_content(*key, rows)) is not None}
            for object_name in ("user_profile", "external_id"):
                rows = [row for (name, _), (found, _) in changed.items() if name == object_name for row in found]
                if rows:
                    await sinks.write_until_stored(router, object_name, rows)
            for (object_name, user_id), (_, digest) in changed.items():
                written.stored(object_name, user_id, digest)

    ctx.app.agent(ctx.channel(ctx.topics.user_changes), name=f"clickhouse-{router.name}-users")(write_users)


async def _retire(sink: ClickHouseSink, user_id: Any) -> None:
    await sink.retire(user_id)


def _retirement_agent(sinks: Sinks, router: ClickHouseRouter) -> None:
    ctx = sinks.ctx

    async def retire_users(stream: Any) -> None:
        async for event in stream.events():
            try:
                change = decode(event.message.key, event.message.value, "auth_user")
            except TransformError:
                continue  # the CDC agent dead-letters malformed records already
            if change is None or change.op != "delete" or change.key is None:
                continue
            await sinks.until_done(router, f"retirement of user {change.key}", partial(_retire, user_id=change.key))
            ctx.counts[f"clickhouse:{router.name}:retired"] += 1

    ctx.app.agent(ctx.channel(ctx.topics.cdc_auth_user), name=f"clickhouse-{router.name}-retirement")(retire_users)


def register(ctx: Context, delivery: Delivery) -> Sinks:
    """The worker's `Sinks` and every ClickHouse router's agents (statements through `delivery`'s chain)."""
    sinks = Sinks(ctx)
    for router in ctx.sinks:
        if "statements" in router.objects:
            delivery.agents(router, ClickHouseSender(router, sinks))
        if "course_overviews" in router.objects:
            _dimension_agent(sinks, router, "cdc_course_overview", "course_overviews", _course_rows)
        if "course_blocks" in router.objects:
            _dimension_agent(sinks, router, "cdc_course_blocks", "course_blocks", _block_rows)
        if "course_enrollment" in router.objects and "cdc_course_enrollment" in ctx.topics:
            _enrollment_agent(sinks, router)
        if {"user_profile", "external_id"} & set(router.objects):
            _personal_data_agent(sinks, router)
        _retirement_agent(sinks, router)
    return sinks

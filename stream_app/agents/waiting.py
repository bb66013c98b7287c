"""Late dimensions: events held until their user or course arrives, then retried, for a bounded time.

CDC can lag the LMS, so an event may reach us before its user or course row.
The enrich agent parks such an event on the waiting topic with a due time; this
agent sleeps until it is due and puts it back on `events-by-actor`, where it is
enriched again. After `STREAM_APP_LATE_DIMENSION_WAIT` (default 10 min) of
retries the enrich agent sends it to the dead-letter topic with the reason
(`unknown_user`, `unknown_course`, ...). Nothing is dropped silently. Records on
the waiting topic are in due order per partition (the delay is constant), so
sleeping on the head record never delays a record that is due earlier. Each
record's offset is committed as soon as it is re-injected (`agents.commits`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from stream_app.agents.commits import acknowledge
from stream_app.agents.enrich import Enricher
from stream_app.codecs.entries import decode as decode_entry
from stream_app.context import Context
from stream_app.errors import TransformError
from stream_app.tables.stream import usernames


def register(ctx: Context, enricher: Enricher) -> Any:
    """The `retry_waiting` agent: held events back onto `events-by-actor` (the enricher's) once due."""

    async def retry_waiting(stream: Any) -> None:
        """Re-inject each held event into `events-by-actor` once it is due."""
        async for event in stream.events():
            message = event.message
            try:
                body = ctx.topics.waiting.decode(message.value)
                delay = float(body["due"]) - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                entry = decode_entry(body["entry"])
                entry.meta = {**body["meta"], "attempt": int(body["meta"]["attempt"]) + 1}
                if body.get("reason") == "unknown_user":
                    # The username index may know the user by now (or a numeric value was a username).
                    user_id = usernames.get(entry.key)
                    if user_id is not None:
                        entry.key = str(user_id)
                await enricher.events_by_actor.send(value=ctx.topics.events_by_actor.encode([entry.encode()]),
                                                    partition=enricher.partition_of(entry.key))
                ctx.counts["retried"] += 1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, TransformError) as exc:
                ctx.dead_letter("waiting", f"invalid_record:{type(exc).__name__}", message)
            # Committed at once (Faust's commit first flushes its producer, so the re-injected entry is stored):
            # every retry re-holds the event as a new record, and a crash re-reading several generations of one
            # held event would enrich each of them.
            ctx.commits.commit_soon(acknowledge(ctx.app, [event]))

    return ctx.app.agent(enricher.waiting, name="retry_waiting")(retry_waiting)

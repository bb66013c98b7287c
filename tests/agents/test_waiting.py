"""The waiting agent, run by Faust's `agent.test_context()`: a held event goes back onto events-by-actor once due,
re-keyed by the username index, one attempt more; a record that is not a held event is dead-lettered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from stream_app.agents import enrich, waiting
from stream_app.codecs.entries import Entry
from stream_app.context import Context
from tests.agents.test_enrich import until


class Sent(list[tuple[bytes, int]]):
    """What was sent to events-by-actor: (value, partition)."""

    async def send(self, value: bytes, partition: int) -> None:
        self.append((value, partition))


def test_a_due_event_is_re_injected_with_one_attempt_more_and_a_bad_record_is_dead_lettered(ctx: Context) -> None:
    made = enrich.Enricher(ctx)
    sent = Sent()
    made.events_by_actor = sent  # type: ignore[assignment]
    agent = waiting.register(ctx, made)
    entry = Entry("7", {"name": "problem_check", "data": {"x": 1}}, 3, 30)
    held: dict[str, Any] = {"entry": entry.encode(), "meta": {"first": time.time() - 5, "attempt": 2},
                            "reason": "unknown_course", "due": time.time() - 1}

    async def scenario() -> None:
        async with agent.test_context() as running:
            await running.put(orjson.dumps(held), partition=0)
            await running.put(b"not a held event", partition=0)
            await until(lambda: len(ctx.commits.asked) >= 2)

    asyncio.run(scenario())
    ((value, partition),) = sent
    (back,) = orjson.loads(value)
    assert back[:4] == entry.encode()[:4] and back[4]["attempt"] == 3  # the same event, one attempt more
    assert partition == made.partition_of("7")
    assert [(stage, reason) for stage, reason, _ in ctx.dead_letter] == [("waiting", "invalid_record:JSONDecodeError")]
    assert ctx.counts["retried"] == 1

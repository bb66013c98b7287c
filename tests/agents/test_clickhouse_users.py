"""The ClickHouse personal-data agent, run by Faust's `agent.test_context()`: which `user_profile` and
`external_id` rows each `user-changes` record makes the sink store.

The agent reads a user's record once `update_users` has applied the change; a change writes only the
objects its table feeds, and content the sink already holds for a user is not stored again under a new
`time_last_dumped` (Aspects' sort key: it would be a second row)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import orjson
import pytest

from stream_app.agents import clickhouse
from stream_app.context import Context
from stream_app.delivery.routers import ClickHouseRouter
from stream_app.tables.cdc import Change, Op
from stream_app.tables.dimensions import apply_user_change
from tests.agents.test_enrich import until

ROUTER = ClickHouseRouter(name="aspects", url="chdb:///nowhere", pii=True, batch_size=1, batch_max_wait=0.01,
                          objects=("user_profile", "external_id"))
XAPI_ID = "00000000-0000-4000-8000-000000000001"


class Recorded(clickhouse.Sinks):
    """Sinks whose writes are recorded, not sent: (object, [(user_id, time_last_dumped, name)])."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.writes: list[tuple[str, list[tuple[int, str, str | None]]]] = []

    async def write_until_stored(self, router: ClickHouseRouter, object_name: str, rows: clickhouse.Rows) -> None:
        self.writes.append((object_name, [(r["user_id"], r["time_last_dumped"], r.get("name")) for r in rows]))


def change(ctx: Context, table: str, row: dict[str, Any] | None, op: Op = "upsert") -> bytes:
    return ctx.topics.user_changes.encode({"table": table, "op": op, "row": row, "key": None})


def test_each_change_stores_only_what_it_altered_and_a_deleted_user_starts_afresh(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    # The users table, as update_users keeps it.
    table: dict[str, Any] = {}
    monkeypatch.setattr(clickhouse, "users", table)
    monkeypatch.setattr(clickhouse, "external_id_types", {"1": "xapi"})
    seen: list[Any] = []  # records the agent has read, to apply the next change only after it
    user_rows = clickhouse._user_rows

    def reading(router: ClickHouseRouter, message: Any) -> Any:
        seen.append(message)
        return user_rows(router, message)

    monkeypatch.setattr(clickhouse, "_user_rows", reading)
    monkeypatch.setattr(ctx, "assigned", lambda tp: True)  # no consumer here
    sinks = Recorded(ctx)
    clickhouse._personal_data_agent(sinks, ROUTER)
    agent = next(a for a in ctx.app.agents.values() if a.name.endswith("clickhouse-aspects-users"))
    user = {"id": 1, "username": "learner1", "email": "l1@example.com"}
    profile = {"id": 101, "user_id": 1, "name": "Learner 1", "country": "FR"}
    external = {"id": 7, "user_id": 1, "external_id_type_id": 1, "external_user_id": XAPI_ID}
    steps: list[tuple[str, dict[str, Any], Op]] = [
        ("auth_user", user, "upsert"),                       # no profile yet, no external ids: nothing
        ("auth_userprofile", profile, "upsert"),             # the profile
        ("external_user_ids_externalid", external, "upsert"),  # the external ids, not the profile again
        ("auth_user", user, "upsert"),                       # re-applied after a rebalance: nothing new
        ("auth_userprofile", {**profile, "name": "L. One"}, "upsert"),  # the profile changed
        ("auth_user", user, "delete"),                       # erased (the retirement agent clears the sink)
        ("auth_user", user, "upsert"),                       # the id again, no profile yet: nothing
        ("auth_userprofile", {**profile, "name": "L. One"}, "upsert"),  # what was erased is stored again
    ]

    async def scenario() -> None:
        async with agent.test_context() as running:
            for at, (name, row, op) in enumerate(steps):
                event = await running.put(change(ctx, name, row, op), key=orjson.dumps("1"), partition=0,
                                          timestamp=1_700_000_000 + at)  # 2023-11-14 22:13:(20 + at)
                if at == 0:
                    await asyncio.sleep(0.2)
                    assert seen == []  # the agent waits for update_users to apply the record
                table["1"] = apply_user_change(table.get("1"), "1", name, Change(op, row, None))  # as update_users does
                ctx.users_applied.mark(event.message.tp, event.message.offset)
                await until(partial(lambda n: len(seen) == n, at + 1))
            await asyncio.sleep(0.3)  # the last batch is written

    asyncio.run(scenario())
    # (object, [(user id, second of time_last_dumped, name)]) per write
    written = [(name, [(uid, dumped[17:19], person) for uid, dumped, person in rows]) for name, rows in sinks.writes]
    assert written == [
        ("user_profile", [(1, "21", "Learner 1")]),
        ("external_id", [(1, "22", None)]),
        ("user_profile", [(1, "24", "L. One")]),
        ("user_profile", [(1, "27", "L. One")]),
    ]
    assert ctx.dead_letter == []


def test_waiting_for_update_users_ends_when_it_gets_there_or_the_partition_is_lost() -> None:
    from stream_app.agents.progress import Progress

    async def scenario() -> tuple[bool, bool]:
        progress, owned = Progress(), {"tp": True}
        waiting = asyncio.create_task(progress.reach("tp", 5, lambda tp: owned[tp]))
        progress.mark("tp", 4)
        await asyncio.sleep(0.05)
        assert not waiting.done()
        progress.mark("tp", 5)
        reached = await asyncio.wait_for(waiting, 2)
        owned["tp"] = False  # revoked: its new owner reads those records
        lost = await asyncio.wait_for(progress.reach("tp", 9, lambda tp: owned[tp]), 3)
        return reached, lost

    assert asyncio.run(scenario()) == (True, False)

"""The alert agent, run by Faust's `agent.test_context()` against a real SMTP server (aiosmtpd): a delivery dead
letter gives one digest; a `legacy` one (old log lines) and a record that is not JSON give none."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from stream_app.agents import alerts
from stream_app.context import Context
from tests.delivery.test_alerts import Inbox, smtp  # noqa: F401  (the SMTP server fixture)


def test_a_delivery_dead_letter_is_mailed_once_and_legacy_ones_never(ctx: Context, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp
    ctx.settings = ctx.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                                   "alert_to": "ops@example.org"})
    alerter = alerts.register(ctx)
    assert alerter is not None
    agent = next(a for a in ctx.app.agents.values() if a.name.endswith("alerts"))
    now = datetime.now(UTC).isoformat()
    dead = {"stage": "deliver", "router": "lrs", "reason": "http_400", "time": now, "statement": {"id": "s-1"}}

    async def scenario() -> int:
        async with agent.test_context() as running:
            await running.put(orjson.dumps({**dead, "stage": "legacy"}))
            await running.put(b"{not json")
            await running.put(orjson.dumps(dead))
            # The agent asks for the next record only once it has handled the one before: when this last
            # one is taken, the dead letter above has been recorded.
            await running.put(orjson.dumps({}), wait=True)
        return await alerter.flush()

    assert asyncio.run(scenario()) == 1
    assert inbox.subjects() == ["[stream-app] router lrs is failing: 1 failure"]


def test_without_smtp_settings_there_is_no_alert_agent(ctx: Context) -> None:
    assert alerts.register(ctx) is None
    assert not [a for a in ctx.app.agents.values() if a.name.endswith("alerts")]

"""The alert agent: reads the dead-letter and delivery-status topics and mails people through the `Alerter`.

A router's first failed batch (a `failing` state change from the delivery
agents) and every delivery dead letter are recorded as failures; a router
delivering again is recorded as a success. A timer flushes the `Alerter`,
which sends at most one digest per router per `STREAM_APP_ALERT_WINDOW` and
one recovery mail (see `stream_app.delivery.alerts`). Both topics have one
partition and are read by this one agent, so one worker holds the alert state.
Without `STREAM_APP_SMTP_HOST` and `STREAM_APP_ALERT_TO` nothing is mailed
(the worker says so at start-up); the topics still hold everything. Dead
letters of stage `legacy` (old log lines only the event_type fallback named,
which ERB would never have transformed) are never mailed: they are counted on
`/metrics` and listed by `stream-app dead-letter stats --stage legacy`.

What was mailed is kept on the compacted delivery-status topic under the key
`alerts:<router>` (a `Mark`). The worker holding the agent restores the marks
from the topic's view (`agents.statusview`), skips router states the marks
cover, and — the first time it holds the status partition (start, takeover) —
records each router's latest state that no mark covers yet, in case the worker
before it read it, committed it and died before mailing. `register` defines
the agent and its timer on the worker's context; nothing happens at import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_app.agents.statusview import StatusView
from stream_app.context import Context, log
from stream_app.delivery.alerts import ROUTER_FAILING, Alerter, Mark
from stream_app.delivery.mailer import SmtpMailer
from stream_app.logjson import log_fields
from stream_app.settings import Settings
from stream_app.topics import Topics

MARK_PREFIX = "alerts:"


def _at(value: Any) -> datetime | None:
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), UTC)
        at = datetime.fromisoformat(str(value))
        at.timestamp()  # a naive time near year 1 parses but has no timestamp: treat it as no time
        return at
    except (ValueError, OverflowError, OSError):
        return None


# Dead-letter stages nobody is mailed about (see the module docstring); only `deliver` ones are mailed anyway,
# but the rule is kept explicit so a later change to what is mailed cannot start paging for them.
UNMAILED_STAGES = frozenset({"legacy"})


@dataclass(frozen=True)
class Rules:
    """Which records the alerter hears of: the two topics' names, and how old a record may be to be news."""

    dead_letter: str
    status: str
    # Records older than this when first read (a new group starting at the beginning of the topics) are
    # history, not news: they are counted by `stream-app dead-letter stats`, not mailed.
    stale_after: float

    @classmethod
    def of(cls, settings: Settings, specs: Topics) -> Rules:
        return cls(specs.dead_letter.name, specs.delivery_status.name, max(settings.alert_window, 3600.0))

    def feed(self, alerter: Alerter, topic: str, body: dict[str, Any], now: float | None = None,
             offset: int | None = None) -> None:
        """Record one dead-letter or delivery-status record with the alerter (old or unrelated ones are ignored).

        `offset` is a delivery-status record's: one the alerter recorded already (read again after a
        crash, or by a new holder of the agent) is skipped.
        """
        if topic == self.dead_letter and body.get("stage") in UNMAILED_STAGES:
            return
        at = _at(body.get("time"))
        now = time.time() if now is None else now
        if at is None or now - at.timestamp() > self.stale_after:
            return
        router = body.get("router")
        if not isinstance(router, str):
            return  # marks (`alerts:<router>` records) and anything else without a router
        if topic == self.status:
            if body.get("state") == "failing":
                alerter.record_failure(router, f"{ROUTER_FAILING}{body.get('error') or 'unknown'}", at,
                                       offset=offset)
            elif body.get("state") == "delivering":
                alerter.record_success(router, at, offset=offset)
        elif body.get("stage") == "deliver":
            statement = body.get("statement")
            item = statement.get("id") if isinstance(statement, dict) else None
            alerter.record_failure(router, str(body.get("reason")), at, item=item or body.get("event_name"))

    def catch_up(self, alerter: Alerter, view: StatusView, now: float | None = None) -> None:
        """Restore every router's mark, and record each router's latest state that no mark covers yet."""
        for key, offset, body in view.items():
            if key.startswith(MARK_PREFIX) or offset is None:
                continue
            restore(alerter, view, key)
            if not alerter.seen(key, offset):
                self.feed(alerter, self.status, body, now, offset)


def mark_body(router: str, mark: Mark) -> dict[str, Any]:
    """A mark as a delivery-status record (no `router` field: the delivery side and `feed` ignore it)."""
    return {"alerts": router, "alerted": mark.alerted, "through": mark.through, "time": mark.at.timestamp(),
            "last_digest": mark.last_digest.timestamp() if mark.last_digest else None}


def restore(alerter: Alerter, view: StatusView, router: str) -> None:
    """Bring the alerter's state of `router` up to the router's mark on the topic, if that is newer."""
    latest = view.get(MARK_PREFIX + router)
    if latest is None:
        return
    body = latest[1]
    at, last_digest = _at(body.get("time")), _at(body.get("last_digest"))
    if at is not None:
        alerter.restore(router, Mark(bool(body.get("alerted")), last_digest, int(body.get("through") or -1), at))


def register(ctx: Context) -> Alerter | None:
    """The `alerts` agent and its `flush_alerts` timer, when mails are configured."""
    settings, view = ctx.settings, ctx.status_view
    if not (settings.smtp_host and settings.alert_to):
        log.info("alert mails are off (set STREAM_APP_SMTP_HOST and STREAM_APP_ALERT_TO to switch them on)")
        return None
    rules = Rules.of(settings, ctx.topics)
    status_channel = ctx.channel(ctx.topics.delivery_status)

    def remember(router: str, mark: Mark) -> None:
        key, body = MARK_PREFIX + router, mark_body(router, mark)
        view.note(key, body)
        status_channel.send_soon(key=key.encode(), value=orjson.dumps(body))

    alerter = Alerter(SmtpMailer.from_settings(settings), window=settings.alert_window, remember=remember)
    channel = ctx.channels(ctx.topics.dead_letter, ctx.topics.delivery_status)

    async def alerts(stream: Any) -> None:
        """Feed every dead-letter and status record to the alerter."""
        await view.ready()
        async for event in stream.events():
            message = event.message
            try:
                body = orjson.loads(message.value or b"")
            except orjson.JSONDecodeError:
                continue
            if not isinstance(body, dict):
                continue
            try:
                if message.topic == rules.status and isinstance(body.get("router"), str):
                    restore(alerter, view, body["router"])
                rules.feed(alerter, message.topic, body, offset=message.offset if message.topic == rules.status
                           else None)
            except Exception:  # noqa: BLE001 — one odd record must not stop alerting for good
                log.exception("alerts: record at %s partition %s offset %s not understood; skipped",
                              message.topic, message.partition, message.offset,
                              extra=log_fields(body.get("event_name"), message.topic, message.partition,
                                               message.offset))

    def holds_status() -> bool:
        """Whether this worker's consumer is assigned the delivery-status partition (so it holds the alerts)."""
        try:
            return any(tp.topic == rules.status for tp in ctx.app.consumer.assignment())
        except Exception:  # noqa: BLE001 — no consumer yet (starting) or rebalancing: not now
            return False

    holding = [False]  # whether this worker held the delivery-status partition at the last flush

    async def flush_alerts() -> None:
        """Send the mails that are due (first catching up with the topic when this worker just took it)."""
        now_holding = holds_status()
        if now_holding and not holding[0] and await view.ready():
            rules.catch_up(alerter, view)
        holding[0] = now_holding
        await alerter.flush()  # dead-letter digests too, which the holder of the dead-letter partition mails

    ctx.app.agent(channel, name="alerts")(alerts)
    ctx.app.timer(interval=2.0)(flush_alerts)
    return alerter

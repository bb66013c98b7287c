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
before it read it, committed it and died before mailing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_app.agents.common import SETTINGS, STATUS_VIEW, log
from stream_app.agents.statusview import StatusView
from stream_app.application import app, topic
from stream_app.delivery.alerts import ROUTER_FAILING, Alerter, Mark
from stream_app.delivery.mailer import SmtpMailer
from stream_app.logjson import log_fields
from stream_app.topics import topics

# Records older than this when first read (a new group starting at the beginning of the topics) are history,
# not news: they are counted by `stream-app dead-letter stats`, not mailed.
STALE_AFTER = max(SETTINGS.alert_window, 3600.0)
DEAD_LETTER = topics()["dead_letter"].name
STATUS = topics()["delivery_status"].name
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


def feed(alerter: Alerter, topic: str, body: dict[str, Any], now: float | None = None,
         offset: int | None = None) -> None:
    """Record one dead-letter or delivery-status record with the alerter (old or unrelated ones are ignored).

    `offset` is a delivery-status record's: one the alerter recorded already (read again after a
    crash, or by a new holder of the agent) is skipped.
    """
    if topic == DEAD_LETTER and body.get("stage") in UNMAILED_STAGES:
        return
    at = _at(body.get("time"))
    now = time.time() if now is None else now
    if at is None or now - at.timestamp() > STALE_AFTER:
        return
    router = body.get("router")
    if not isinstance(router, str):
        return  # marks (`alerts:<router>` records) and anything else without a router
    if topic == STATUS:
        if body.get("state") == "failing":
            alerter.record_failure(router, f"{ROUTER_FAILING}{body.get('error') or 'unknown'}", at, offset=offset)
        elif body.get("state") == "delivering":
            alerter.record_success(router, at, offset=offset)
    elif body.get("stage") == "deliver":
        statement = body.get("statement")
        item = statement.get("id") if isinstance(statement, dict) else None
        alerter.record_failure(router, str(body.get("reason")), at, item=item or body.get("event_name"))


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


def catch_up(alerter: Alerter, view: StatusView, now: float | None = None) -> None:
    """Restore every router's mark, and record each router's latest state that no mark covers yet."""
    for key, offset, body in view.items():
        if key.startswith(MARK_PREFIX) or offset is None:
            continue
        restore(alerter, view, key)
        if not alerter.seen(key, offset):
            feed(alerter, STATUS, body, now, offset)


def _remember(router: str, mark: Mark) -> None:
    key, body = MARK_PREFIX + router, mark_body(router, mark)
    STATUS_VIEW.note(key, body)
    STATUS_CHANNEL.send_soon(key=key.encode(), value=orjson.dumps(body))


def _holds_status() -> bool:
    """Whether this worker's consumer is assigned the delivery-status partition (so it holds the alerts)."""
    try:
        return any(tp.topic == STATUS for tp in app.consumer.assignment())
    except Exception:  # noqa: BLE001 — no consumer yet (starting) or rebalancing: not now
        return False


def _alerter() -> Alerter | None:
    if not (SETTINGS.smtp_host and SETTINGS.alert_to):
        log.info("alert mails are off (set STREAM_APP_SMTP_HOST and STREAM_APP_ALERT_TO to switch them on)")
        return None
    return Alerter(SmtpMailer.from_settings(SETTINGS), window=SETTINGS.alert_window, remember=_remember)


STATUS_CHANNEL = topic("delivery_status")
ALERTER = _alerter()

_holding = False  # whether this worker held the delivery-status partition at the last flush

if ALERTER is not None:
    alerter = ALERTER
    channel = app.topic(DEAD_LETTER, STATUS, key_serializer="raw", value_serializer="raw")

    @app.agent(channel, name="alerts")
    async def alerts(stream: Any) -> None:
        """Feed every dead-letter and status record to the alerter."""
        await STATUS_VIEW.ready()
        async for event in stream.events():
            try:
                body = orjson.loads(event.message.value or b"")
            except orjson.JSONDecodeError:
                continue
            if not isinstance(body, dict):
                continue
            try:
                if event.message.topic == STATUS and isinstance(body.get("router"), str):
                    restore(alerter, STATUS_VIEW, body["router"])
                feed(alerter, event.message.topic, body, offset=event.message.offset
                     if event.message.topic == STATUS else None)
            except Exception:  # noqa: BLE001 — one odd record must not stop alerting for good
                message = event.message
                log.exception("alerts: record at %s partition %s offset %s not understood; skipped",
                              message.topic, message.partition, message.offset,
                              extra=log_fields(body.get("event_name"), message.topic, message.partition,
                                               message.offset))

    @app.timer(interval=2.0)  # type: ignore[untyped-decorator]  # Faust ships no types for it
    async def flush_alerts() -> None:
        """Send the mails that are due (first catching up with the topic when this worker just took it)."""
        global _holding
        holding = _holds_status()
        if holding and not _holding and await STATUS_VIEW.ready():
            catch_up(alerter, STATUS_VIEW)
        _holding = holding
        await alerter.flush()  # dead-letter digests too, which the holder of the dead-letter partition mails

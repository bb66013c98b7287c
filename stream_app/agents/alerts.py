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
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_app.agents.common import SETTINGS, log
from stream_app.application import app
from stream_app.delivery.alerts import ROUTER_FAILING, Alerter
from stream_app.delivery.mailer import SmtpMailer
from stream_app.logjson import log_fields
from stream_app.topics import topics

# Records older than this when first read (a new group starting at the beginning of the topics) are history,
# not news: they are counted by `stream-app dead-letter stats`, not mailed.
STALE_AFTER = max(SETTINGS.alert_window, 3600.0)
DEAD_LETTER = topics()["dead_letter"].name
STATUS = topics()["delivery_status"].name


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


def feed(alerter: Alerter, topic: str, body: dict[str, Any], now: float | None = None) -> None:
    """Record one dead-letter or delivery-status record with the alerter (old or unrelated ones are ignored)."""
    if topic == DEAD_LETTER and body.get("stage") in UNMAILED_STAGES:
        return
    at = _at(body.get("time"))
    now = time.time() if now is None else now
    if at is None or now - at.timestamp() > STALE_AFTER:
        return
    router = body.get("router")
    if not isinstance(router, str):
        return
    if topic == STATUS:
        if body.get("state") == "failing":
            alerter.record_failure(router, f"{ROUTER_FAILING}{body.get('error') or 'unknown'}", at)
        elif body.get("state") == "delivering":
            alerter.record_success(router, at)
    elif body.get("stage") == "deliver":
        statement = body.get("statement")
        item = statement.get("id") if isinstance(statement, dict) else None
        alerter.record_failure(router, str(body.get("reason")), at, item=item or body.get("event_name"))


def _alerter() -> Alerter | None:
    if not (SETTINGS.smtp_host and SETTINGS.alert_to):
        log.info("alert mails are off (set STREAM_APP_SMTP_HOST and STREAM_APP_ALERT_TO to switch them on)")
        return None
    return Alerter(SmtpMailer.from_settings(SETTINGS), window=SETTINGS.alert_window)


ALERTER = _alerter()

if ALERTER is not None:
    alerter = ALERTER
    channel = app.topic(DEAD_LETTER, STATUS, key_serializer="raw", value_serializer="raw")

    @app.agent(channel, name="alerts")
    async def alerts(stream: Any) -> None:
        """Feed every dead-letter and status record to the alerter."""
        async for event in stream.events():
            try:
                body = orjson.loads(event.message.value or b"")
            except orjson.JSONDecodeError:
                continue
            if not isinstance(body, dict):
                continue
            try:
                feed(alerter, event.message.topic, body)
            except Exception:  # noqa: BLE001 — one odd record must not stop alerting for good
                message = event.message
                log.exception("alerts: record at %s partition %s offset %s not understood; skipped",
                              message.topic, message.partition, message.offset,
                              extra=log_fields(body.get("event_name"), message.topic, message.partition,
                                               message.offset))

    @app.timer(interval=2.0)  # type: ignore[untyped-decorator]  # Faust ships no types for it
    async def flush_alerts() -> None:
        """Send the mails that are due."""
        await alerter.flush()

"""Bring the three input shapes to the one event-tracking shape `{name, timestamp, context, data}`.

- event-tracking dicts (what the LMS hands its backends) pass unchanged;
- tracking-log lines (`event`, `time`, top-level `username`, ...) gain `data`
  (the `event` value, JSON-decoded when it is a string) and `timestamp` (from
  `time`), exactly as ERB's replay parser does — the original keys stay, so the
  recursive field search sees what ERB sees;
- the event bus's `TrackingLogData` carries `data` and `context` as JSON strings,
  which are decoded; the signal payload wraps it as `{"tracking_log": {...}}`,
  which is unwrapped.
The input dict is never mutated.

A line without `name` (tracking logs older than the field) is named by its
`event_type` here; `named_by_event_type` tells such lines apart, so the engine
can skip them (ERB's replay never sets `name`) or count their failures apart
(`STREAM_APP_NAMELESS_EVENTS`, see docs/backfill.md).
"""

from __future__ import annotations

from typing import Any

import orjson

from stream_app.transforms.errors import TransformError


def _decode_object(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        return decoded
    return value


def named_by_event_type(raw: Any) -> bool:
    """True when only the `event_type` fallback names the event: no `name` of its own, a usable `event_type`."""
    if not isinstance(raw, dict):
        return False
    if "name" not in raw and isinstance(raw.get("tracking_log"), dict):
        raw = raw["tracking_log"]
    event_type = raw.get("event_type")
    return raw.get("name") is None and isinstance(event_type, str) and event_type != ""


def normalise(raw: Any, log_data: bool = True) -> dict[str, Any]:
    """Return the event in event-tracking shape, or raise TransformError with the reason.

    `log_data=False` leaves a tracking-log line's `event` where it is (no `data` copy): that is how
    ERB's own transformer tests see such dicts, and its fixtures' expected outputs depend on it.
    """
    if not isinstance(raw, dict):
        raise TransformError("invalid_event", "not_an_object")
    if "name" not in raw and isinstance(raw.get("tracking_log"), dict):
        raw = raw["tracking_log"]  # the event bus signal's payload (TRACKING_EVENT_EMITTED)
    name = raw.get("name")
    if name is None:
        # Tracking-log lines name the event in `event_type`; `name` is the modern field.
        name = raw.get("event_type")
    if name is None or name == "":
        raise TransformError("missing_field", "name")
    if not isinstance(name, str):
        raise TransformError("invalid_field", "name")
    event = dict(raw)
    event["name"] = name
    if log_data and "data" not in event and "event" in event:
        event["data"] = _decode_object(event["event"])
    elif isinstance(event.get("data"), (str, bytes)):
        event["data"] = _decode_object(event["data"])
    if isinstance(event.get("context"), (str, bytes)):
        event["context"] = _decode_object(event["context"])
    if "timestamp" not in event and "time" in event:
        event["timestamp"] = event["time"]
    return event

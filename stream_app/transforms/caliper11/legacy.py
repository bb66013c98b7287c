"""The legacy tracking-log record openedx-caliper-tracking reads, built from any accepted input shape.

CT's transformers read what edx-platform's legacy shim writes to tracking.log:
top-level `username`, `session`, `ip`, `agent`, `host`, `referer`,
`accept_language`, `event_type`, `event_source`, `page`, `time`, and `event`
(a JSON string for browser events). A tracking-log line is used as it is. An
event-tracking or event-bus event (`{name, timestamp, context, data}`) is first
mapped the way the shim maps it, so both reach the transformers in one shape;
for browser events the shim serialises `data` with `json.dumps`, and so do we,
because CT copies that string into its output. The input is never mutated.

`Record` gives the transformers CT's access rules: a missing key is a
`missing_field` reject (CT raises KeyError and drops the event), a present key
is returned as it is, even when empty.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from stream_app.transforms.errors import TransformError

# The fields the shim moves from `context` to the top level (each defaults to "").
_CONTEXT_FIELDS = ("username", "session", "ip", "agent", "host", "referer", "accept_language")
_MISSING = object()


def _decoded(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _is_legacy(raw: dict[str, Any]) -> bool:
    # A tracking-log line always names its event in `event_type`; event-tracking dicts never do.
    return "event_type" in raw


def _without_normaliser_keys(raw: dict[str, Any]) -> dict[str, Any]:
    # The worker hands the engine events already through `normalise`, which gives a tracking-log
    # line `data` (its decoded `event`) and `timestamp` (its `time`). A real line has neither:
    # remove them so CT's record (and a passthrough) is the line as it was logged.
    record = dict(raw)
    if "event" in record and "data" in record and record["data"] == _decoded(record["event"]):
        del record["data"]
    if "time" in record and "timestamp" in record and record["timestamp"] == record["time"]:
        del record["timestamp"]
    return record


def _from_tracking(raw: dict[str, Any]) -> dict[str, Any]:
    context = _decoded(raw.get("context"))
    context = dict(context) if isinstance(context, dict) else {}
    record: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("data", "timestamp", "context")}
    for key in _CONTEXT_FIELDS:
        record[key] = context.pop(key, "")
    context.pop("client_id", None)  # Segment's id: the shim drops it
    data = _decoded(raw["data"]) if "data" in raw else {}
    if context.get("event_source", "") == "browser" and isinstance(data, dict):
        record["event"] = json.dumps(data)
    else:
        record["event"] = data
    if "timestamp" in context:
        record["time"] = context.pop("timestamp")
    elif "timestamp" in raw:
        record["time"] = raw["timestamp"]
    record["event_type"] = context.pop("event_type", raw.get("name", ""))
    record["event_source"] = context.pop("event_source", "server")
    record["page"] = context.pop("page", None)
    record["context"] = context
    return record


def legacy_record(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The legacy record for an accepted input (`raw` already known to be a dict naming `name`)."""
    if "name" not in raw and isinstance(raw.get("tracking_log"), dict):
        raw = raw["tracking_log"]  # the event bus signal's payload
    if _is_legacy(raw):
        record = _without_normaliser_keys(raw)
    else:
        record = _from_tracking(raw)
    record.setdefault("event_type", name)
    return record


class Record:
    """Read access to a legacy record with CT's rules (missing key: reject; present value: as is)."""

    __slots__ = ("raw", "_payload")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._payload: Any = _MISSING

    def req(self, key: str) -> Any:
        """A top-level field CT indexes directly (`event['ip']`)."""
        try:
            return self.raw[key]
        except KeyError:
            raise TransformError("missing_field", key) from None

    def opt(self, key: str) -> Any:
        """A top-level field CT reads with `.get` (None when absent)."""
        return self.raw.get(key)

    def context(self) -> dict[str, Any]:
        """`context` as a dict; CT indexes it, so a non-dict context is a reject."""
        value = self.req("context")
        if not isinstance(value, dict):
            raise TransformError("invalid_field", "context")
        return value

    def ctx(self, key: str) -> Any:
        """`context[key]`, rejecting when absent."""
        try:
            return self.context()[key]
        except KeyError:
            raise TransformError("missing_field", f"context.{key}") from None

    def ctx_opt(self, key: str) -> Any:
        """`context.get(key)`; a non-dict context reads as empty (CT's base uses `.get` here)."""
        context = self.raw.get("context")
        return context.get(key) if isinstance(context, dict) else None

    def event(self) -> Any:
        """`event` exactly as the record carries it (a JSON string for browser events)."""
        return self.req("event")

    def payload(self) -> dict[str, Any]:
        """`event` parsed (CT's `json.loads` on browser events); a dict is taken as it is.

        Returns a fresh shallow copy each call, so a transformer may pop fields from it.
        """
        if self._payload is _MISSING:
            value = self.event()
            if isinstance(value, (str, bytes)):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise TransformError("invalid_field", "event") from None
            self._payload = value
        if not isinstance(self._payload, dict):
            raise TransformError("invalid_field", "event")
        return dict(self._payload)

    def payload_without(self, *keys: str) -> dict[str, Any]:
        """The payload minus `keys`, each of which must be there (CT pops them without a default)."""
        payload = self.payload()
        for key in keys:
            if key not in payload:
                raise TransformError("missing_field", f"event.{key}")
            del payload[key]
        return payload

    def field(self, key: str) -> Any:
        """`payload[key]`, rejecting when absent."""
        try:
            return self.payload()[key]
        except KeyError:
            raise TransformError("missing_field", f"event.{key}") from None

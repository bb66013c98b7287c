"""Build the flat output records (field names are a contract) from statements and Caliper events.

The record repeats the columns downstream warehouses index (Aspects'
`xapi_events_all`): ids, verb or type/action, actor, object, course, org and
time, with the full statement or event as a JSON string.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream_app.jsonio import dumps_str

JSON = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: str) -> int:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def xapi_actor_id(actor: JSON) -> str:
    """The actor's identifier: account name, mbox or mbox_sha1sum."""
    account = actor.get("account")
    if isinstance(account, dict) and account.get("name"):
        return str(account["name"])
    for key in ("mbox", "mbox_sha1sum", "openid"):
        if actor.get(key):
            return str(actor[key])
    return dumps_str(actor)


def course_org(course_id: str | None) -> str | None:
    """The org part of a course key (`course-v1:ORG+COURSE+RUN`), or None."""
    if not course_id or ":" not in course_id:
        return None
    org = course_id.split(":", 1)[1].split("+", 1)[0]
    return org or None


def xapi_record(statement: JSON, event_name: str, course_id: str | None, org: str | None) -> JSON:
    """The `XapiStatement` record for one statement."""
    return {
        "event_id": statement["id"],
        "verb_id": statement["verb"]["id"],
        "actor_id": xapi_actor_id(statement["actor"]),
        "object_id": str(statement["object"]["id"]),
        "course_id": course_id,
        "org": org if org is not None else course_org(course_id),
        "emission_time": _micros(statement["timestamp"]),
        "event_name": event_name,
        "statement": dumps_str(statement),
    }


def caliper_record(event: JSON, event_name: str, course_id: str | None, org: str | None) -> JSON:
    """The `CaliperEvent` record for one Caliper event."""
    obj = event.get("object") or {}
    return {
        "event_id": event["id"],
        "type": event["type"],
        "action": event["action"],
        "actor_id": event["actor"]["id"],
        "object_id": str(obj.get("id", "")),
        "course_id": course_id,
        "org": org if org is not None else course_org(course_id),
        "event_time": _micros(event["eventTime"].replace("Z", "+00:00")),
        "event_name": event_name,
        "event": dumps_str(event),
    }


def caliper11_record(event: JSON, event_name: str, course_id: str | None, org: str | None) -> JSON:
    """The `CaliperEvent` record of a Caliper 1.1 event (the same fields as 1.2's).

    A passthrough (openedx-caliper-tracking's raw edX event, sent only in its compatibility
    mode) has no Caliper fields: the record takes its user and time from the edX event.
    """
    if "actor" in event and "eventTime" in event:
        return caliper_record(event, event_name, course_id, org)
    when = str(event.get("time") or event.get("timestamp") or "1970-01-01T00:00:00+00:00")
    return {
        "event_id": str(event.get("id") or ""),
        "type": "passthrough",
        "action": "",
        "actor_id": str(event.get("username") or ""),
        "object_id": "",
        "course_id": course_id,
        "org": org if org is not None else course_org(course_id),
        "event_time": _micros(when.replace("Z", "+00:00")),
        "event_name": event_name,
        "event": dumps_str(event),
    }

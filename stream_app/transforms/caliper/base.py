"""Building blocks shared by every Caliper 1.2 transformer: the common event fields and the envelope.

ERB's Caliper events carry `@context`, `id`, `eventTime`, `actor`, `session`,
`type`, `action`, `object` and `extensions.transformerVersion`; after building,
it removes None and empty values recursively through dicts (not inside lists).
Our `id` is deterministic (see `ids.caliper_event_id`); everything else matches ERB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream_app.transforms import ids
from stream_app.transforms.context import Ctx
from stream_app.transforms.event import is_empty

JSON = dict[str, Any]
CALIPER_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"


def prune(d: JSON) -> JSON:
    """ERB's `del_none`: drop None/empty values, then recurse into dicts (a dict emptied by recursion stays)."""
    for key, value in list(d.items()):
        if is_empty(value):
            del d[key]
        elif isinstance(value, dict):
            prune(value)
    return d


def base_object(ctx: Ctx) -> JSON:
    """The object skeleton: `extensions.isPartOf` = the course offering when the event has a course."""
    course_id = ctx.get("context.course_id")
    if course_id is None:
        return {}
    return {"extensions": {"isPartOf": {"id": ctx.iri("course", course_id), "type": "CourseOffering"}}}


def caliper_event(ctx: Ctx, event_type: str, action: str, obj: JSON, **extra: Any) -> JSON:
    """A complete Caliper event (not enveloped); `extra` adds fields such as `generated` or `target`."""
    actor_id = ctx.iri("user", ctx.external_id("caliper"))
    assert actor_id is not None  # external_id() never returns an empty id
    out: JSON = {
        "@context": CALIPER_CONTEXT,
        "id": ids.caliper_event_id(event_type, action, actor_id, ctx.get("timestamp", required=True)),
        "eventTime": ctx.caliper_time(),
        "actor": {"id": actor_id, "type": "Person"},
        "type": event_type,
        "action": action,
        "object": obj,
        "extensions": {"transformerVersion": ctx.settings.version_string},
    }
    session = ctx.session()
    if session is not None:
        out["session"] = {"id": ctx.iri("sessions", session), "type": "Session"}
    out.update(extra)
    return prune(out)


def send_time(now: datetime | None = None) -> str:
    """`sendTime`: UTC with milliseconds and `Z`."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def envelope(events: list[JSON], sensor: str, now: datetime | None = None) -> JSON:
    """A Caliper envelope around `events` (ERB sends one event per envelope)."""
    return {"sensor": sensor, "sendTime": send_time(now), "data": events, "dataVersion": CALIPER_CONTEXT}

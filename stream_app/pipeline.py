"""What the worker does with one event, minus the I/O: parse and route it by actor, transform it.

Kept free of Faust so it can be tested and benchmarked alone. `parse` is the
one place a tracking event is parsed and normalised (the ingest stage; later
stages carry the normalised event, see `codecs.entries`). `route` decides
where it goes (an actor key, a skip reason or a reject); `process` runs the
engine on the normalised event for every enabled format and says what to
produce, what to hold for a late dimension and what to dead-letter;
`process_raw` is both for one record's bytes. Events without `name` follow
`STREAM_APP_NAMELESS_EVENTS`: skipped as `no_name`, or named by `event_type`,
their transformer failures then marked for stage `legacy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from stream_app.codecs.records import caliper11_record, caliper_record, xapi_actor_id, xapi_record
from stream_app.errors import MissingDimension, TransformError
from stream_app.settings import Settings
from stream_app.transforms import Engine
from stream_app.transforms.dimensions import EventLookup, Lookup
from stream_app.transforms.engine import actor_key, is_legacy_failure
from stream_app.transforms.event import Event
from stream_app.transforms.filters import EventFilter
from stream_app.transforms.normalise import named_by_event_type, normalise

JSON = dict[str, Any]


def build_engine(settings: Settings) -> Engine:
    """The engine configured from worker settings (allow lists replace ERB's defaults when set)."""
    filters = {}
    for fmt, entries in (("xapi", settings.xapi_allowed_events), ("caliper", settings.caliper_allowed_events),
                         ("caliper11", settings.caliper11_allowed_events)):
        if entries.strip():
            filters[fmt] = EventFilter.parse(entries.split(","))
    return Engine(settings.transform_settings(), filters=filters)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A tracking event in event-tracking shape; `fallback`: only its `event_type` named it (no `name`)."""

    event: JSON
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """Where a tracking event goes: `key` (actor) to process, or `skip`/`reject` with a reason."""

    key: str | None = None
    name: str | None = None
    skip: str | None = None
    reject: str | None = None
    parsed: Parsed | None = None  # the normalised event, for the next stage


class AvroTracking:
    """Decodes Confluent-framed Avro tracking values (the event bus's TrackingLogData) to dicts."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def __call__(self, raw: bytes) -> Any:
        if raw[:1] != b"\x00":
            return orjson.loads(raw)  # JSON still accepted on the same topic
        try:
            return self.decoder.decode(raw)
        except Exception as exc:  # noqa: BLE001 — any undecodable payload is a bad record, not a crash
            raise TransformError("invalid_avro", type(exc).__name__) from exc


def parse(raw: bytes, decode: Any = orjson.loads) -> Parsed:
    """Parse (JSON, or the event bus's Avro through `decode`) and normalise one record; raise TransformError."""
    try:
        decoded = decode(raw)
    except orjson.JSONDecodeError:
        raise TransformError("invalid_json") from None
    return Parsed(normalise(decoded), named_by_event_type(decoded))


def route(raw: bytes, engine: Engine, formats: tuple[str, ...], decode: Any = orjson.loads) -> Route:
    """Parse, normalise and filter one tracking event, and find its actor key."""
    try:
        parsed = parse(raw, decode)
    except TransformError as exc:
        return Route(reject=exc.reason)
    event = parsed.event
    name = event["name"]
    wanted = _formats_for(engine, formats, parsed.fallback)
    if not any(engine.handles(fmt, engine.event_name(fmt, event)) for fmt in wanted):
        # Without a name, ERB's formats skip it (STREAM_APP_NAMELESS_EVENTS=skip): say so, not "not allowed".
        return Route(name=name, skip="no_name" if len(wanted) < len(formats) else "not_allowed")
    key = actor_key(Event(event))
    if key is None:
        # Logged-out learners' events: ERB drops them too; counted, not dead-lettered (they are not faults).
        return Route(name=name, skip="anonymous_user")
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        return Route(name=name, reject="invalid_field:user_id")
    if isinstance(key, int) or key.strip().lstrip("-").isdigit():
        try:
            key = str(int(key))
        except ValueError:
            key = str(key)
    return Route(key=key, name=name, parsed=parsed)


def _formats_for(engine: Engine, formats: tuple[str, ...], fallback: bool) -> tuple[str, ...]:
    """The formats that take an event; `fallback`: only its event_type names it (skipped where so configured)."""
    return tuple(f for f in formats if not engine.skips_nameless(f)) if fallback else formats


@dataclass(slots=True)
class Outcome:
    """The result of processing one event for every enabled format."""

    name: str | None = None
    outputs: list[tuple[str, str, JSON]] = field(default_factory=list)  # (format, actor id, record)
    missing: str | None = None
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (format, reason)
    fallback: bool = False  # only the event_type fallback named it (a line without `name`)
    missing_format: str | None = None  # the format whose transformer found `missing` lacking

    def stage(self, fmt: str, reason: str, default: str = "transform") -> str:
        """The dead-letter stage of a failure of `fmt`: `legacy` when only the event_type fallback reached it."""
        return "legacy" if is_legacy_failure(fmt, self.fallback, reason) else default


def _actor_id(fmt: str, item: JSON) -> str:
    if fmt == "xapi":
        return xapi_actor_id(item["actor"])
    actor = item.get("actor")
    # A Caliper 1.1 passthrough (compatibility mode) is the raw edX event: its user is `username`.
    return str(actor["id"]) if isinstance(actor, dict) else str(item.get("username") or "")


def process_raw(raw: bytes, engine: Engine, lookup: Lookup, formats: tuple[str, ...]) -> Outcome:
    """`process` of one record's bytes (tests, benchmarks, tools): parse, then transform."""
    try:
        parsed = parse(raw)
    except TransformError as exc:
        return Outcome(rejects=[("*", exc.reason)])
    return process(parsed.event, engine, lookup, formats, parsed.fallback)


def process(event: JSON, engine: Engine, lookup: Lookup, formats: tuple[str, ...], fallback: bool = False) -> Outcome:
    """Transform one normalised event (see `parse`) for every enabled, allowed format."""
    name = event["name"]
    # One field cache and one read of user and course serve every format.
    shared, lookup = Event(event), EventLookup(lookup)
    outcome = Outcome(name=name, fallback=fallback)
    context = event.get("context")
    course_id = context.get("course_id") if isinstance(context, dict) else None
    course_id = course_id if isinstance(course_id, str) and course_id else None
    for fmt in _formats_for(engine, formats, fallback):
        if not engine.handles(fmt, engine.event_name(fmt, event)):
            continue
        try:
            items = engine.transform_event(fmt, shared, event, lookup)
        except MissingDimension as exc:
            # Hold the whole event: emitting one format now and the other later would split it.
            return Outcome(name=name, missing=exc.reason, fallback=fallback, missing_format=fmt)
        except TransformError as exc:
            outcome.rejects.append((fmt, exc.reason))
            continue
        course = lookup.course(course_id) if course_id else None  # read once per event (EventLookup)
        org = course.org if course else None
        build = xapi_record if fmt == "xapi" else caliper_record if fmt == "caliper" else caliper11_record
        for item in items:
            outcome.outputs.append((fmt, _actor_id(fmt, item), build(item, name, course_id, org)))
    return outcome

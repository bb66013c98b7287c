"""The engine: normalise an event, check the allow list, resolve its user and course, run its transformer.

This is the single error boundary of the pure layer. Whatever happens inside a
transformer ends as either a list of output dicts or a `TransformError` with a
stable reason; an exception nobody anticipated is still caught and reported as
`transform_failed:<ExceptionType>` so one odd event can never stop a worker
(the property tests assert that this last-resort reason never occurs).

An event without `name` is named by its `event_type` (old tracking logs) or,
with `nameless_events="skip"`, refused as `no_name` for ERB's formats; when the
fallback named it and its transformer then fails, the result says `legacy`, so
callers count and dead-letter it apart (stage `legacy`: nobody is paged for
events ERB would never have transformed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_app.transforms import caliper, caliper11, xapi
from stream_app.transforms.caliper.base import envelope
from stream_app.transforms.caliper11.legacy import legacy_record
from stream_app.transforms.caliper11.needs import resolve as resolve_caliper11
from stream_app.transforms.context import NO_HOOKS, Ctx, XapiHooks
from stream_app.transforms.dimensions import Course, Lookup, User
from stream_app.transforms.errors import MissingDimension, TransformError
from stream_app.transforms.event import Event
from stream_app.transforms.filters import EventFilter
from stream_app.transforms.normalise import named_by_event_type, normalise
from stream_app.transforms.registry import Registry, Transformer, load_hooks, load_plugins
from stream_app.transforms.settings import TransformSettings

FORMATS = ("xapi", "caliper", "caliper11")
# The formats whose parity is with ERB, which keys on `name`; Caliper 1.1 (CT) keys on `event_type` anyway.
ERB_FORMATS = ("xapi", "caliper")
# Reasons that mean no transformer ran: not a failure of the event, whatever named it.
NOT_TRANSFORMED = frozenset({"not_allowed", "unsupported_event", "no_name"})
JSON = dict[str, Any]


def _copy(registry: Registry) -> Registry:
    # Each engine gets its own registries so plugins never leak between engines (or tests).
    copy = Registry(registry.format)
    for name in registry:
        fn = registry.get(name)
        assert fn is not None
        copy.add(name, fn)
    return copy


def builtin_registries() -> dict[str, Registry]:
    """Fresh copies of the built-in registries, by format."""
    return {"xapi": _copy(xapi.XAPI), "caliper": _copy(caliper.CALIPER), "caliper11": _copy(caliper11.CALIPER11)}


def caliper11_name(normalised: JSON) -> str:
    """CT keys its transformers on the legacy `event_type`, which can differ from `name`.

    (A browser's `video_hide_cc_menu` is named `edx.video.language_menu.hidden`, for one.)
    """
    event_type = normalised.get("event_type")
    return event_type if isinstance(event_type, str) and event_type else str(normalised["name"])


def is_legacy_failure(fmt: str, fallback: bool, reason: str) -> bool:
    """Whether a failure with `reason` is one only the `event_type` fallback reached (`fallback`: it named the
    event): an ERB format whose transformer ran and failed. These are dead letters of stage `legacy`."""
    return fallback and fmt in ERB_FORMATS and reason.split(":", 1)[0] not in NOT_TRANSFORMED


def actor_key(event: Event) -> Any:
    """The value ERB resolves the user from: data.user_id, data.username, user_id, username."""
    for key in ("data.user_id", "data.username", "user_id", "username"):
        value = event.get(key)
        if value is not None:
            return value
    return None


def resolve_user(event: Event, lookup: Lookup) -> User | None:
    """Resolve the event's user, or raise: `anonymous_user` without any identifier."""
    key = actor_key(event)
    if key is None:
        raise TransformError("anonymous_user")
    if not isinstance(key, (str, int)) or isinstance(key, bool):
        raise TransformError("invalid_field", "user_id")
    return lookup.user(key)


def resolve_course(event: Event, lookup: Lookup) -> Course | None:
    """The course of `context.course_id`, or None (unknown or absent)."""
    course_id = event.get("context.course_id")
    if course_id is None:
        return None
    if not isinstance(course_id, str):
        raise TransformError("invalid_field", "context.course_id")
    return lookup.course(course_id)


@dataclass(slots=True)
class TransformResult:
    """What one event produced for one format: outputs, or the reason it produced none."""

    name: str | None
    output: list[JSON] = field(default_factory=list)
    error: str | None = None
    filtered: bool = False
    legacy: bool = False  # named by the event_type fallback, then failed its transformer (see is_legacy_failure)


class Engine:
    """Transforms events for the configured formats with one set of settings, filters and hooks."""

    def __init__(
        self,
        settings: TransformSettings | None = None,
        *,
        filters: Mapping[str, EventFilter] | None = None,
        hooks: XapiHooks = NO_HOOKS,
        plugins: bool = True,
        registries: Mapping[str, Registry] | None = None,
        log_data: bool = True,
    ) -> None:
        self.settings = settings or TransformSettings()
        self.hooks = hooks
        # ERB's replay parser copies a tracking-log line's `event` into `data`; we do the same by default.
        self.log_data = log_data
        self.registries = dict(registries) if registries is not None else builtin_registries()
        self.filters = {fmt: EventFilter.default(fmt) for fmt in FORMATS}
        self.plugins: list[str] = []
        if plugins:
            builtin = {fmt: set(self.registries.get(fmt, ())) for fmt in FORMATS}
            self.plugins = load_plugins(self.registries)
            for fmt in FORMATS:
                # A plugin's own event names are allowed by default, as ERB's plugins extend its lists;
                # an operator's list (below) replaces the whole default, plugins' names included.
                added = set(self.registries.get(fmt, ())) - builtin[fmt]
                if added:
                    self.filters[fmt] = self.filters[fmt].adding(added)
            hook_names, plugin_hooks = load_hooks()
            self.plugins += hook_names
            self.hooks = hooks.then(plugin_hooks) if plugin_hooks else hooks
        if filters:
            self.filters.update(filters)
        if self.settings.caliper11_page_views:
            self.filters["caliper11"] = self.filters["caliper11"].with_page_views()
        # Every name some format has a transformer for (plugins included): a bounded set, unlike the
        # names events arrive with (a page view is named by its URL).
        self.names: frozenset[str] = frozenset().union(*self.registries.values())

    @staticmethod
    def event_name(fmt: str, normalised: JSON) -> str:
        """The name `fmt` knows a normalised event by (its `event_type` for Caliper 1.1); use with `handles`."""
        return caliper11_name(normalised) if fmt == "caliper11" else str(normalised["name"])

    def skips_nameless(self, fmt: str) -> bool:
        """Whether `fmt` skips events without `name` (`no_name`) instead of naming them by `event_type`."""
        return self.settings.nameless_events == "skip" and fmt in ERB_FORMATS

    def allows(self, fmt: str, name: str) -> bool:
        """Whether `name` passes the allow list of `fmt`."""
        return self.filters[fmt].allows(name)

    def handles(self, fmt: str, name: str) -> bool:
        """Whether `name` is allowed for `fmt` and has a transformer (ERB logs the other allowed names)."""
        return self._transformer(fmt, name) is not None and self.filters[fmt].allows(name)

    def _transformer(self, fmt: str, name: str) -> Transformer | None:
        fn = self.registries[fmt].get(name)
        if fn is None and fmt == "caliper11" and name.startswith("/"):
            # Page views are named by their URL path: one transformer for all of them, as in CT.
            return caliper11.page_view
        return fn

    def transform(self, fmt: str, raw: Any, lookup: Lookup) -> list[JSON]:
        """Transform one event (any accepted shape) into statements/events; raise TransformError."""
        if self.skips_nameless(fmt) and named_by_event_type(raw):
            raise TransformError("no_name")
        return self.transform_event(fmt, Event(normalise(raw, self.log_data)), raw, lookup)

    def transform_event(self, fmt: str, event: Event, raw: Any, lookup: Lookup) -> list[JSON]:
        """`transform` of an event already normalised into `event`, which may serve several formats.

        `raw` is the event as received (Caliper 1.1 reads the tracking-log record from it). Field
        reads are cached in `event`, so one `Event` shared by the formats reads each field once.
        """
        name = self.event_name(fmt, event.raw)
        if not self.allows(fmt, name):
            raise TransformError("not_allowed")
        fn = self._transformer(fmt, name)
        if fn is None:
            raise TransformError("unsupported_event")
        if fmt == "caliper11":
            return self._caliper11(fn, name, raw, lookup)
        try:
            ctx = Ctx(
                event=event,
                settings=self.settings,
                user=resolve_user(event, lookup),
                course=resolve_course(event, lookup),
                hooks=self.hooks if fmt == "xapi" else NO_HOOKS,
            )
            out = fn(ctx)
            outputs = out if isinstance(out, list) else [out]
            if fmt == "xapi":
                # ERB drops every statement of an event when one lacks an object id.
                for statement in outputs:
                    obj = statement.get("object")
                    if not isinstance(obj, dict) or not obj.get("id"):
                        raise TransformError("missing_field", "object.id")
            return outputs
        except (TransformError, MissingDimension):
            raise
        except Exception as exc:  # noqa: BLE001 — the error boundary of the pure layer
            raise TransformError("transform_failed", type(exc).__name__) from exc

    def _caliper11(self, fn: Transformer, name: str, raw: dict[str, Any], lookup: Lookup) -> list[JSON]:
        # CT reads the legacy tracking-log record and identifies people by username only: no
        # actor or course resolution, just the few lookups its transformers make (`needs`).
        try:
            record = legacy_record(raw, name)
            ctx = Ctx(Event(record), self.settings, resolved=resolve_caliper11(name, record, lookup))
            ctx.name = name  # a tracking-log line may carry only `event_type`
            out = fn(ctx)
            return out if isinstance(out, list) else [out]
        except (TransformError, MissingDimension):
            raise
        except Exception as exc:  # noqa: BLE001 — the error boundary of the pure layer
            raise TransformError("transform_failed", type(exc).__name__) from exc

    def run(self, fmt: str, raw: Any, lookup: Lookup) -> TransformResult:
        """Like `transform`, but never raises: the reason goes into the result."""
        name = raw.get("name") if isinstance(raw, dict) else None
        if fmt == "caliper11" and isinstance(raw, dict) and isinstance(raw.get("event_type"), str):
            name = raw["event_type"]
        if not isinstance(name, str):
            name = raw.get("event_type") if isinstance(raw, dict) and isinstance(raw.get("event_type"), str) else None
        try:
            return TransformResult(name, self.transform(fmt, raw, lookup))
        except TransformError as exc:
            return TransformResult(name, error=exc.reason, filtered=exc.reason == "not_allowed",
                                   legacy=is_legacy_failure(fmt, named_by_event_type(raw), exc.reason))

    def envelope(self, events: list[JSON]) -> JSON:
        """Wrap Caliper events in one envelope with the configured sensor."""
        return envelope(events, self.settings.sensor)

"""`Ctx`: everything one transformer call may read, plus the helpers every family shares.

A transformer is `fn(ctx) -> dict | list[dict]`. `Ctx` bundles the event (with
ERB's field rules), the resolved user and course, the output settings and the
xAPI hooks. Helpers here raise `TransformError`/`MissingDimension` with stable
reasons, so each transformer stays a short list of field mappings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stream_app.transforms.dimensions import Course, User
from stream_app.transforms.errors import MissingDimension, TransformError
from stream_app.transforms.event import Event
from stream_app.transforms.settings import TransformSettings

Hook = Callable[[dict[str, Any], Event], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class XapiHooks:
    """Functions that may rewrite the xAPI actor, verb or object (ERB's openedx-filters).

    Each receives the component and the event and returns the component to use.
    Actor and verb hooks run before the statement id is computed, so they change it,
    exactly as ERB's `get_actor`/`get_verb` filters do.
    """

    actor: tuple[Hook, ...] = ()
    verb: tuple[Hook, ...] = ()
    object: tuple[Hook, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.actor or self.verb or self.object)

    def then(self, other: XapiHooks) -> XapiHooks:
        """These hooks, then `other`'s, for each component."""
        return XapiHooks(self.actor + other.actor, self.verb + other.verb, self.object + other.object)


NO_HOOKS = XapiHooks()
_INT64 = 2**63

# Python's fromisoformat (3.11) reads every form tincan/aniso8601 accept in practice;
# this only guards the common "Z"-less basic forms from a confusing message.
_TS_SHAPE = re.compile(r"^\d{4}-?\d{2}-?\d{2}")


def parse_timestamp(raw: Any, field_name: str = "timestamp") -> datetime:
    """Parse an event timestamp (ISO 8601 string with a UTC offset) or reject it."""
    if isinstance(raw, str) and _TS_SHAPE.match(raw):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise TransformError("invalid_field", field_name) from exc
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        # tincan reads a number as a UNIX timestamp; huge values overflow in ERB.
        try:
            value = datetime.fromtimestamp(raw, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise TransformError("invalid_field", field_name) from exc
    else:
        raise TransformError("invalid_field", field_name)
    if value.tzinfo is None or value.utcoffset() is None:
        # tincan refuses naive timestamps; guessing a zone would shift statements silently.
        raise TransformError("invalid_field", f"{field_name}:no_timezone")
    return value


def caliper_text(utc: datetime) -> str:
    """A naive UTC time as Caliper's `eventTime` text: milliseconds (truncated) and `Z`."""
    if utc.year >= 1000:
        # isoformat truncates to milliseconds exactly as slicing strftime's microseconds does, in
        # a fraction of the time; strftime stays for early years, which it does not zero-pad.
        return utc.isoformat(timespec="milliseconds") + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Ctx:
    """One transformation: the event, its enrichment, the settings and hooks."""

    __slots__ = ("event", "settings", "user", "course", "hooks", "_memo", "get", "get_str", "name", "resolved")

    def __init__(
        self,
        event: Event,
        settings: TransformSettings,
        user: User | None = None,
        course: Course | None = None,
        hooks: XapiHooks = NO_HOOKS,
        resolved: Mapping[str, Any] | None = None,
    ) -> None:
        self.event = event
        self.settings = settings
        self.user = user
        self.course = course
        self.hooks = hooks
        #: Further enrichment the engine looked up for this event's format (Caliper 1.1: the
        #: usernames of cohort/team members, team topics), keyed by what was asked.
        self.resolved: Mapping[str, Any] = resolved if resolved is not None else {}
        self._memo: dict[str, Any] = {}
        # Field access is the hottest call of every transformer: bind the event's methods directly.
        #: `get(key, required=False)`: ERB's field rules (see `stream_app.transforms.event`).
        self.get = event.get
        #: `get_str(key, required=False)`: the same, rejecting a non-string value.
        self.get_str = event.get_str
        #: The event name.
        self.name: str = event.name

    def iri(self, object_type: str, object_id: Any) -> str | None:
        """`{LMS root}/{type}/{id}`, or None when the id is missing (as ERB's get_object_iri)."""
        if object_id is None:
            return None
        return f"{self.settings.lms_root_url}/{object_type}/{object_id}"

    def session(self) -> str | int | None:
        """The session id as ERB copies it, except values no JSON consumer can hold.

        A structure (dict, list) or a bool is malformed input: the statement is kept without a
        session; an integer beyond 64 bits becomes text.
        """
        session = self.get("session")
        if session is None or isinstance(session, str):
            return session
        if isinstance(session, int) and not isinstance(session, bool):
            return session if -_INT64 <= session < _INT64 else str(session)
        if isinstance(session, float):
            return str(session)
        return None

    # -- enrichment ---------------------------------------------------------
    def require_user(self) -> User:
        """The resolved user, or MissingDimension(`unknown_user`)."""
        if self.user is None:
            raise MissingDimension("unknown_user")
        return self.user

    def external_id(self, id_type: str) -> str:
        """The user's external id of one type (`xapi`, `caliper`)."""
        user = self.require_user()
        value = user.external_ids.get(id_type)
        if not value:
            raise MissingDimension("missing_external_id", id_type)
        return value

    def require_course(self) -> Course:
        """The course of `context.course_id`, or MissingDimension(`unknown_course`)."""
        if self.course is None:
            raise MissingDimension("unknown_course")
        return self.course

    # -- time ---------------------------------------------------------------
    def raw_timestamp(self) -> Any:
        """`timestamp`, else `time` (recursive search), as the raw input value."""
        raw = self.get("timestamp")
        if raw is None:
            raw = self.get("time")
        if raw is None:
            raise TransformError("missing_field", "timestamp")
        return raw

    def id_timestamp(self) -> Any:
        """The timestamp as ERB's transformer held it on the path reproduced (`xapi_id_form`).

        `live`: the parsed, timezone-aware datetime (ERB's live paths rebuild one: `str()` of it
        has a space before the time, keeps the offset and drops a zero fraction); `replay`: the
        raw value, as ERB's file replays and unit tests hand it over. The timestamp is parsed in
        both forms (the parse is cached: the statement's own `timestamp` needs it anyway), so an
        unparseable one is rejected at the same point, with the same reason, whichever the form.
        """
        parsed = self.timestamp()
        return parsed if self.settings.xapi_id_form == "live" else self.raw_timestamp()

    def timestamp(self) -> datetime:
        """The parsed event time (cached)."""
        value = self._memo.get("ts")
        if value is None:
            value = parse_timestamp(self.raw_timestamp())
            self._memo["ts"] = value
        return value

    def xapi_timestamp(self) -> str:
        """The statement `timestamp`: tincan's isoformat of the parsed time (`Z` becomes `+00:00`)."""
        text = self._memo.get("xapi_ts")
        if text is None:
            text = self._memo["xapi_ts"] = self.timestamp().isoformat()
        return text

    def caliper_time(self, key: str = "timestamp") -> str:
        """Caliper `eventTime`: UTC, truncated to milliseconds, with `Z`. Caliper requires `timestamp`."""
        raw = self.get(key, required=True)
        value = parse_timestamp(raw, key)
        offset = value.utcoffset() or timedelta(0)
        try:
            utc = value.replace(tzinfo=None) - offset
        except OverflowError as exc:
            raise TransformError("invalid_field", key) from exc
        return caliper_text(utc)

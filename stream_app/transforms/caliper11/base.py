"""The skeleton every Caliper 1.1 event starts from, and the finishing steps they all share.

openedx-caliper-tracking ("CT") first builds a common skeleton — `@context`
v1p1, `eventTime`, `actor.id` (the learner's profile URL), `referrer` (the HTTP
referer as a WebPage) and `extensions.extra_fields` (ten raw tracking fields) —
and each per-event transformer then fills in type, action and object and edits
`extra_fields` in its own way. `Builder` reproduces that skeleton and offers
the edits as small methods, so each transformer reads like CT's field list.

Two things differ from CT on purpose: the event `id` is a deterministic uuid5
(CT's is a random uuid4, so replays duplicate), and an event whose object id
would be empty is rejected instead of being sent with `id: ""`.
"""

from __future__ import annotations

import json
from typing import Any

from stream_app.transforms import ids
from stream_app.transforms.caliper.video import iso_duration
from stream_app.transforms.caliper11.legacy import Record
from stream_app.transforms.context import Ctx, parse_timestamp
from stream_app.transforms.errors import TransformError

JSON = dict[str, Any]
CONTEXT_V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"

# The personal data CT copies into `extensions.extra_fields`, removed when the setting asks.
PERSONAL_EXTRA_FIELDS = ("ip", "agent", "username")


def event_time(raw: Any, field: str = "time") -> str:
    """CT's `eventTime` (and its other times): shifted to UTC, milliseconds truncated, with `Z`."""
    value = parse_timestamp(raw, field)
    offset = value.utcoffset()
    assert offset is not None  # parse_timestamp refuses naive times
    try:
        utc = value.replace(tzinfo=None) - offset
    except OverflowError as exc:
        raise TransformError("invalid_field", field) from exc
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def duration(seconds: Any, field: str) -> str:
    """An ISO-8601 duration as CT's isodate writes it; anything not a number of seconds is a reject."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TransformError("invalid_field", field)
    value = iso_duration(seconds)
    if value is None:
        raise TransformError("invalid_field", field)
    return value


def event_id(name: str, out: JSON, raw_time: Any) -> str:
    """A deterministic `urn:uuid:` for the event: what happened, to what, by whom, when.

    The namespace key names the format and the edX event name as well as type and
    action, because CT maps several names to one type/action pair.
    """
    key = json.dumps({"format": "caliper11", "event": name, "type": out["type"], "action": out["action"]})
    actor = out.get("actor") or {}
    obj = out.get("object") or {}
    return "urn:uuid:" + ids.uuid5_pair(key, f"{actor.get('id')}-{obj.get('id')}-{ids.timestamp_text(raw_time)}")


class Builder:
    """One event under construction: the record, CT's skeleton, and the edits transformers make."""

    __slots__ = ("ctx", "r", "root", "actor", "referrer", "extra")

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.r = Record(ctx.event.raw)
        self.root = ctx.settings.lms_root_url
        r = self.r
        self.actor: JSON = {"id": self.profile_url(r.opt("username"))}
        self.referrer: JSON | None = {"id": r.opt("referer"), "type": "WebPage"}
        self.extra: JSON = {
            "agent": r.opt("agent"),
            "event_type": r.opt("event_type"),
            "event_source": r.opt("event_source"),
            "host": r.opt("host"),
            "org_id": r.ctx_opt("org_id"),
            "path": r.ctx_opt("path"),
            "session": r.opt("session"),
            "user_id": r.ctx_opt("user_id"),
            "accept_language": r.opt("accept_language"),
            "page": r.opt("page"),
        }

    # -- identities -------------------------------------------------------------------------
    def profile_url(self, username: Any) -> str:
        """The learner profile URL CT uses as a person's id: `{LMS}/u/{username}`."""
        return f"{self.root}/u/{username}"

    def person(self, username: Any = None, named: bool = True) -> Builder:
        """The actor is the learner (`username` by default); an event without one is anonymous."""
        if username is None:
            username = self.r.req("username")
        if not isinstance(username, str) or not username:
            raise TransformError("anonymous_user")
        self.actor = {"id": self.profile_url(username), "type": "Person"}
        if named:
            self.actor["name"] = username
        return self

    def unnamed_person(self) -> Builder:
        """The learner as actor without a name, keeping the skeleton's id (CT's certificate.shared)."""
        username = self.r.opt("username")
        if not isinstance(username, str) or not username:
            raise TransformError("anonymous_user")
        self.actor["type"] = "Person"
        return self

    def lms(self) -> Builder:
        """The actor is the LMS itself, as a SoftwareApplication."""
        self.actor = {"id": self.root, "type": "SoftwareApplication"}
        return self

    # -- extra_fields edits -----------------------------------------------------------------
    def add(self, **fields: Any) -> Builder:
        """`extra_fields.update(fields)`."""
        self.extra.update(fields)
        return self

    def add_context(self) -> Builder:
        """Merge the whole `context` into `extra_fields`."""
        self.extra.update(self.r.context())
        return self

    def drop(self, *keys: str) -> Builder:
        """Remove fields from `extra_fields` (CT pops `session`, `org_id`, `user_id` per event)."""
        for key in keys:
            self.extra.pop(key, None)
        return self

    def take(self, key: str) -> Any:
        """Remove a field from `extra_fields` and return it (CT moves it into the object)."""
        return self.extra.pop(key, None)

    def ip(self) -> Builder:
        """`extra_fields.ip`: every CT transformer adds it."""
        self.extra["ip"] = self.r.req("ip")
        return self

    def course(self, required: bool = True) -> Builder:
        """`extra_fields.course_id` and `ip`: the most common pair (`required=False`: CT's `.get`)."""
        self.extra["course_id"] = self.r.ctx("course_id") if required else self.r.ctx_opt("course_id")
        return self.ip()

    # -- result -----------------------------------------------------------------------------
    def build(self, event_type: str, action: str, obj: JSON, **top: Any) -> JSON:
        """The finished event; `top` adds top-level fields such as `target`."""
        object_id = obj.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise TransformError("missing_field", "object.id")
        extensions = {"extra_fields": self.extra}
        out: JSON = {
            "@context": CONTEXT_V1P1,
            "id": None,
            "eventTime": event_time(self.r.req("time")),
            "actor": self.actor,
            "type": event_type,
            "action": action,
            "object": obj,
            "extensions": extensions,
        }
        if self.referrer is not None:
            out["referrer"] = self.referrer
        out.update(top)
        if not self.ctx.settings.caliper11_personal_data:
            strip_personal_data(out)
        out["id"] = event_id(self.ctx.name, out, self.r.req("time"))
        return out


def strip_personal_data(out: JSON) -> None:
    """Remove the username, IP and user agent CT copies: extra fields and the names of persons."""
    extra = out.get("extensions", {}).get("extra_fields")
    if isinstance(extra, dict):
        for key in PERSONAL_EXTRA_FIELDS:
            extra.pop(key, None)
    for holder in (out, out.get("object")):
        if not isinstance(holder, dict):
            continue
        for key in ("actor", "member"):
            person = holder.get(key)
            if isinstance(person, dict) and person.get("type") == "Person":
                person.pop("name", None)


def passthrough(ctx: Ctx) -> JSON:
    """CT's answer to a grading event without a referer: the raw edX event with `id: null`, or a reject.

    CT sends that record on as if it were Caliper; we reject it unless the
    compatibility setting asks for CT's behaviour.
    """
    if not ctx.settings.caliper11_passthrough:
        raise TransformError("missing_field", "referer")
    return {**ctx.event.raw, "id": None}

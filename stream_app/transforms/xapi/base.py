"""Building blocks shared by every xAPI transformer: actor, verb, course context, statement.

A family module only describes its object (and result or extra context); the
common parts ERB adds to every statement — id, actor, timestamp, version,
transformer-version and session extensions, the course as parent activity —
are built here once. None values are left out the way tincan's serialiser
leaves them out, level by level; empty dicts are kept as tincan keeps them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from stream_app.transforms import ids
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab

JSON = dict[str, Any]
_DEFAULT: Any = object()


def compact(d: JSON) -> JSON:
    """Drop the keys whose value is None (tincan's `_filter_none`, one level)."""
    return {k: v for k, v in d.items() if v is not None}


def actor(ctx: Ctx) -> JSON:
    """The Agent in the configured form (external id account, mbox or mbox_sha1sum)."""
    settings = ctx.settings
    if settings.ifi == "external_id":
        return {
            "objectType": "Agent",
            "account": {"homePage": settings.lms_root_url, "name": ctx.external_id("xapi")},
        }
    email = ctx.require_user().email
    if not email:
        raise TransformError("missing_field", "user.email")
    if settings.ifi == "mbox":
        return {"objectType": "Agent", "mbox": f"mailto:{email}"}
    hashed = email if settings.mbox_sha1sum_form == "erb" else f"mailto:{email}"
    return {"objectType": "Agent", "mbox_sha1sum": hashlib.sha1(hashed.encode("utf-8")).hexdigest()}


def course_activity(ctx: Ctx, course_id: str, lang: str) -> JSON:
    """The course as an Activity; its name is left out when the course has no display name."""
    course = ctx.require_course()
    definition: JSON = {"type": vocab.ACT_COURSE}
    if course.display_name is not None:
        definition["name"] = {lang: course.display_name}
    return {"id": ctx.iri("course", course_id), "objectType": "Activity", "definition": definition}


def course_parent(ctx: Ctx) -> list[JSON] | None:
    """`[course activity]` when the event has `context.course_id`, else None."""
    course_id = ctx.get("context.course_id")
    if course_id is None:
        return None
    return [course_activity(ctx, course_id, vocab.EN_US)]


def context_extensions(ctx: Ctx, extra: JSON | None = None) -> JSON:
    """Transformer version and session id, plus the family's own extensions (None values dropped)."""
    ext: JSON = {vocab.EXT_TRANSFORMER_VERSION: ctx.settings.version_string}
    session = ctx.session()
    if session is not None:
        ext[vocab.EXT_SESSION_ID] = session
    if extra:
        for key, value in extra.items():
            if value is not None:
                ext[key] = value
    return ext


def context(ctx: Ctx, extensions: JSON | None = None, parent: Any = _DEFAULT) -> JSON:
    """The statement context: extensions, and the course as parent activity unless `parent` says otherwise."""
    parents = course_parent(ctx) if parent is _DEFAULT else parent
    out: JSON = {}
    if parents:
        out["contextActivities"] = {"parent": parents}
    out["extensions"] = context_extensions(ctx, extensions)
    return out


def _apply(hooks: tuple[Any, ...], value: JSON, ctx: Ctx) -> JSON:
    for hook in hooks:
        value = hook(value, ctx.event)
    return value


def statement(
    ctx: Ctx,
    verb: JSON,
    obj: JSON,
    *,
    result: JSON | None = None,
    context_: JSON | None = None,
    child_id: str | None = None,
) -> JSON:
    """A complete statement: id, actor, verb, object, context, timestamp, version (+ result)."""
    memo = ctx._memo
    who = memo.get("actor")
    if who is None:
        who = actor(ctx)
        if ctx.hooks.actor:
            who = _apply(ctx.hooks.actor, who, ctx)
        memo["actor"] = who
    if ctx.hooks:
        verb = _apply(ctx.hooks.verb, verb, ctx)
        obj = _apply(ctx.hooks.object, obj, ctx)
    # The actor half of the id and the statement timestamp are the same for every statement of
    # an event (a multi-question check makes several): built once.
    actor_part = memo.get("actor_part")
    if actor_part is None:
        actor_part = memo["actor_part"] = ids.actor_part(who, ctx.id_timestamp())
    out: JSON = {
        "id": ids.statement_id_from(verb, actor_part, child_id),
        "actor": who,
        "verb": verb,
        "object": obj,
        "context": context(ctx) if context_ is None else context_,
        "timestamp": ctx.xapi_timestamp(),
        "version": vocab.XAPI_VERSION,
    }
    if result is not None:
        out["result"] = result
    return out

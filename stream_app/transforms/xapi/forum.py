"""xAPI transformers for discussion forum events: threads, responses and comments posted, edited, viewed,
deleted, voted on, reported and unreported. Every forum statement has the same object — a `discussion`
activity whose id is the LMS root, the request path with the post's own id cut out, and the post id —
and, when the event names its discussion, that discussion as a `grouping` context activity; the events
differ only in the verb and, for creation and votes, one `acrossx type` context extension.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, context, statement
from stream_app.transforms.xapi.registry import XAPI


def _id_text(value: Any, key: str) -> str:
    """An id as text: tincan stringifies scalar ids; a dict or list cannot name anything."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise TransformError("invalid_field", key)


def _post_iri(ctx: Ctx) -> str:
    """`{LMS root}{path without the post id}/{post id}`, as ERB builds it from `context.path`."""
    post_id = _id_text(ctx.get("data.id", required=True), "data.id")
    path = ctx.get_str("context.path", required=True) or ""  # required: never empty here
    # ERB strips trailing slashes, removes every occurrence of the id, then strips again, so
    # `/threads/` and `/comments/<id>/` both end up as the collection path.
    base = path.rstrip("/").replace(post_id, "").rstrip("/")
    return f"{ctx.settings.lms_root_url}{base}/{post_id}"


def _post_object(ctx: Ctx) -> JSON:
    definition: JSON = {"type": vocab.ACT_DISCUSSION}
    title = ctx.get_str("data.title")
    if title is not None:
        definition["name"] = {vocab.EN: title}
    return {"id": _post_iri(ctx), "objectType": "Activity", "definition": definition}


def _forum_context(ctx: Ctx, extensions: JSON | None = None) -> JSON:
    """The usual course context, plus the discussion the post belongs to as `grouping`."""
    out = context(ctx, extensions)
    discussion = ctx.get("data.discussion.id")
    if discussion is not None:
        iri = f"{ctx.settings.lms_root_url}/api/discussion/v1/threads/{_id_text(discussion, 'data.discussion.id')}"
        # ERB assumes a course parent exists here and crashes without one; we add the grouping alone.
        activities = out.setdefault("contextActivities", {})
        activities["grouping"] = [{"id": iri, "objectType": "Activity", "definition": {"type": vocab.ACT_DISCUSSION}}]
    return out


_VERB_BY_NAME = {
    "edx.forum.response.created": "posted",
    "edx.forum.comment.created": "posted",
    "edx.forum.thread.edited": "edited",
    "edx.forum.response.edited": "edited",
    "edx.forum.comment.edited": "edited",
    "edx.forum.thread.viewed": "viewed",
    "edx.forum.thread.deleted": "deleted",
    "edx.forum.response.deleted": "deleted",
    "edx.forum.comment.deleted": "deleted",
    "edx.forum.thread.reported": "reported",
    "edx.forum.response.reported": "reported",
    "edx.forum.comment.reported": "reported",
    "edx.forum.thread.unreported": "unreported",
    "edx.forum.response.unreported": "unreported",
    "edx.forum.comment.unreported": "unreported",
}


@XAPI.register(*_VERB_BY_NAME)
def forum_action(ctx: Ctx) -> JSON:
    """A post replied to, edited, viewed, deleted, reported or unreported; the verb follows the event name."""
    return statement(ctx, vocab.verb(_VERB_BY_NAME[ctx.name]), _post_object(ctx), context_=_forum_context(ctx))


@XAPI.register("edx.forum.thread.created")
def thread_created(ctx: Ctx) -> JSON:
    """A new thread; its kind (discussion or question) goes into the `type` context extension."""
    # ERB searches `thread_type` anywhere in the event, not only under `data`.
    extensions = {vocab.EXT_MODE: ctx.get("thread_type")}
    return statement(ctx, vocab.verb("posted"), _post_object(ctx), context_=_forum_context(ctx, extensions))


@XAPI.register("edx.forum.thread.voted", "edx.forum.response.voted")
def post_voted(ctx: Ctx) -> JSON:
    """A vote on a thread or response; the vote value goes into the `type` context extension."""
    extensions = {vocab.EXT_MODE: ctx.get("vote_value")}
    return statement(ctx, vocab.verb("voted"), _post_object(ctx), context_=_forum_context(ctx, extensions))

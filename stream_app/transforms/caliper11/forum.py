"""Caliper 1.1 discussion events: posts as `MessageEvent`s, views, votes and searches, on the referer.

The payload becomes the object's extensions, minus what CT lifts out of it:
`body` (and the thread `title` as `name`) into the message, and `url`, which
it drops. A vote is `Liked` only when `vote_value` is "up"; anything else,
an un-vote included, is `Disliked`.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx


def _forum_extras(b: Builder) -> Builder:
    return b.ip().add(course_id=b.r.ctx("course_id"), course_user_tags=b.r.ctx("course_user_tags"))


@CALIPER11.register("edx.forum.response.created")
def response_created(ctx: Ctx) -> JSON:
    """A response: its body is the message body."""
    b = Builder(ctx).person().course()
    rest = b.r.payload()
    body = b.r.field("body")
    rest.pop("body")
    return b.build("MessageEvent", "Posted", {"id": b.r.req("referer"), "type": "Message", "body": body,
                                              "extensions": rest})


@CALIPER11.register("edx.forum.thread.created", "edx.forum.comment.created")
def post_created(ctx: Ctx) -> JSON:
    """A thread (titled) or a comment (its `url` dropped)."""
    b = _forum_extras(Builder(ctx).person())
    if ctx.name == "edx.forum.thread.created":
        rest = b.r.payload_without("body", "title")
        obj = {"id": b.r.req("referer"), "type": "Message", "body": b.r.field("body"), "name": b.r.field("title")}
    else:
        rest = b.r.payload_without("url", "body")
        obj = {"id": b.r.req("referer"), "type": "Message", "body": b.r.field("body")}
    obj["extensions"] = rest
    return b.build("MessageEvent", "Posted", obj)


@CALIPER11.register("edx.forum.thread.viewed")
def thread_viewed(ctx: Ctx) -> JSON:
    """A thread read: its title names it."""
    b = _forum_extras(Builder(ctx).person())
    rest = b.r.payload()
    rest.pop("url", None)
    title = rest.pop("title", "")
    return b.build("ViewEvent", "Viewed", {"id": b.r.req("referer"), "type": "Thread", "name": title,
                                           "extensions": rest})


@CALIPER11.register("edx.forum.response.voted", "edx.forum.thread.voted")
def voted(ctx: Ctx) -> JSON:
    """A vote on a response (`Message`) or a thread."""
    b = _forum_extras(Builder(ctx).person())
    rest = b.r.payload()
    rest.pop("url", None)
    action = "Liked" if b.r.field("vote_value") == "up" else "Disliked"
    obj_type = "Message" if ctx.name == "edx.forum.response.voted" else "Thread"
    return b.build("Event", action, {"id": b.r.req("referer"), "type": obj_type, "extensions": rest})


@CALIPER11.register("edx.forum.searched")
def searched(ctx: Ctx) -> JSON:
    """A search of the course's discussions."""
    b = _forum_extras(Builder(ctx).person())
    return b.build("Event", "Searched", {"id": b.r.req("referer"), "type": "Forum", "extensions": b.r.event()})

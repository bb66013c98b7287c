"""Caliper 1.1 cohort and team events: `Group`s and `Membership`s, their members named by a lookup.

CT addresses a cohort by the instructor page (the referer plus
`#view-cohort_management`) and a team by its page (the referer plus
`#teams/<topic>/<team>`, the topic looked up from the team id). A membership
names its member (profile URL and username, found from the payload's user id)
and its organization (the group, with the same id as the membership).
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.caliper11 import needs
from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError


def _member(b: Builder, **extensions: Any) -> JSON:
    username = b.ctx.resolved.get("member_username")
    if username is None:
        raise TransformError("invalid_field", "event.user_id")  # the engine resolves every usable id
    return {"extensions": {"user_id": b.r.field("user_id"), **extensions}, "id": b.profile_url(username),
            "name": username, "type": "Person"}


def _team_url(b: Builder) -> str:
    team_id = b.r.field("team_id")
    topic = b.ctx.resolved.get("team_topic")
    if topic is None:
        raise TransformError("invalid_field", "event.team_id")
    return needs.team_url(b.r.req("referer"), topic, team_id)


# -- cohorts ------------------------------------------------------------------------------------
def _cohort_page(b: Builder) -> str:
    return f"{b.r.req('referer')}#view-cohort_management"


def _cohort(b: Builder) -> JSON:
    return {"extensions": {"cohort_id": b.r.field("cohort_id")}, "id": _cohort_page(b),
            "name": b.r.field("cohort_name"), "type": "Group"}


@CALIPER11.register("edx.cohort.created", "edx.cohort.creation_requested")
def cohort_created(ctx: Ctx) -> JSON:
    """A cohort created (or requested): the group itself."""
    b = Builder(ctx).person().ip()
    b.add(course_id=b.r.ctx("course_id"))
    if ctx.name == "edx.cohort.created":
        b.add(course_user_tags=b.r.ctx("course_user_tags"))
    return b.build("Event", "Created", _cohort(b))


@CALIPER11.register("edx.cohort.user_added", "edx.cohort.user_removed", "edx.cohort.user_add_requested")
def cohort_membership(ctx: Ctx) -> JSON:
    """A learner added to or removed from a cohort (a request also names the previous cohort)."""
    b = Builder(ctx).person()
    previous = {}
    if ctx.name == "edx.cohort.user_add_requested":
        previous = {key: b.r.field(key) for key in ("previous_cohort_id", "previous_cohort_name")}
    obj = {"id": _cohort_page(b), "member": _member(b, **previous), "organization": _cohort(b), "type": "Membership"}
    b.ip().add(course_id=b.r.ctx("course_id"), course_user_tags=b.r.ctx("course_user_tags"))
    action = "Removed" if ctx.name == "edx.cohort.user_removed" else "Added"
    return b.build("Event", action, obj)


# -- teams --------------------------------------------------------------------------------------
@CALIPER11.register("edx.team.learner_added", "edx.team.learner_removed")
def team_membership(ctx: Ctx) -> JSON:
    """A learner joining or leaving a team; a learner removed with the team is addressed by the referer."""
    b = Builder(ctx).person()
    if ctx.name == "edx.team.learner_added":
        action, key = "Added", "add_method"
        url = _team_url(b)
    else:
        action, key = "Removed", "remove_method"
        url = b.r.req("referer") if b.r.field(key) == "team_deleted" else _team_url(b)
    obj = {
        "id": url,
        "member": _member(b),
        "organization": {"extensions": {"team_id": b.r.field("team_id")}, "id": url, "type": "Group"},
        "type": "Membership",
        "extensions": {key: b.r.field(key)},
    }
    return b.course().build("Event", action, obj)


@CALIPER11.register("edx.team.created", "edx.team.deleted")
def team_created_or_deleted(ctx: Ctx) -> JSON:
    """A team created (its page) or deleted (the referer)."""
    b = Builder(ctx).person()
    url = _team_url(b) if ctx.name == "edx.team.created" else b.r.req("referer")
    action = "Created" if ctx.name == "edx.team.created" else "Deleted"
    return b.course().build("Event", action, {"extensions": b.r.event(), "id": url, "type": "Group"})


@CALIPER11.register("edx.team.changed", "edx.team.searched")
def team_changed_or_searched(ctx: Ctx) -> JSON:
    """A team edited (its page) or teams searched (the referer): course and org join the payload."""
    b = Builder(ctx).person()
    extensions = b.r.payload()
    url = _team_url(b) if ctx.name == "edx.team.changed" else b.r.req("referer")
    extensions.update(course_id=b.r.ctx("course_id"), org_id=b.take("org_id"))
    action = "Modified" if ctx.name == "edx.team.changed" else "Searched"
    return b.ip().build("Event", action, {"id": url, "type": "Group", "extensions": extensions})


@CALIPER11.register("edx.team.activity_updated")
def team_activity_updated(ctx: Ctx) -> JSON:
    """New activity in a team's discussion: the team's page as a `Forum`."""
    b = Builder(ctx).person()
    obj = {"id": _team_url(b), "type": "Forum", "extensions": {"team_id": b.r.field("team_id")}}
    b.add(course_user_tags=b.r.ctx("course_user_tags")).course()
    return b.build("Event", "Modified", obj)


@CALIPER11.register("edx.team.page_viewed")
def team_page_viewed(ctx: Ctx) -> JSON:
    """A teams page viewed: `page`, with the parsed payload."""
    b = Builder(ctx).person().course()
    return b.build("ViewEvent", "Viewed", {"id": b.r.req("page"), "type": "WebPage", "extensions": b.r.payload()})

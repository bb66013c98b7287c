"""Caliper 1.1 enrollment events: the learner's course `Membership`, without member or organization.

Activation, mode change and upgrade address the membership by the referer;
deactivation by the course about page (CT reverses `about_course`). CT moves
`user_id` (and for upgrades `org_id`) out of the extra fields into the
object's extensions. A click on "upgrade" is a navigation to `page`.
"""

from __future__ import annotations

from stream_app.transforms.caliper11 import needs
from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx


def _membership(object_id: object, extensions: JSON) -> JSON:
    return {"id": object_id, "type": "Membership", "extensions": extensions}


@CALIPER11.register("edx.course.enrollment.activated", "edx.course.enrollment.upgrade.succeeded")
def enrollment_changed(ctx: Ctx) -> JSON:
    """Enrolled, or upgraded: the membership with mode, course and the ids moved from the extra fields."""
    b = Builder(ctx).person()
    extensions = {"mode": b.r.field("mode"), "course_id": b.r.ctx("course_id"), "user_id": b.take("user_id")}
    action = "Activated"
    if ctx.name == "edx.course.enrollment.upgrade.succeeded":
        extensions["org_id"] = b.take("org_id")
        action = "Modified"
    b.add(event_source=b.r.req("event_source")).ip()
    assert b.referrer is not None
    return b.build("Event", action, _membership(b.referrer["id"], extensions))


@CALIPER11.register("edx.course.enrollment.deactivated")
def enrollment_deactivated(ctx: Ctx) -> JSON:
    """Unenrolled: the membership is addressed by the course about page."""
    b = Builder(ctx).person()
    course_id = b.r.ctx("course_id")
    obj = _membership(needs.about_url(b.root, course_id), {"course_id": course_id, "mode": b.r.field("mode")})
    return b.ip().build("Event", "Deactivated", obj)


@CALIPER11.register("edx.course.enrollment.mode_changed")
def enrollment_mode_changed(ctx: Ctx) -> JSON:
    """A new mode: course, org and mode in the membership's extensions."""
    b = Builder(ctx).person().ip()
    extensions = {"course_id": b.r.ctx("course_id"), "org_id": b.r.ctx("org_id"), "mode": b.r.field("mode")}
    return b.build("Event", "Modified", _membership(b.r.req("referer"), extensions))


@CALIPER11.register("edx.course.enrollment.upgrade.clicked")
def upgrade_clicked(ctx: Ctx) -> JSON:
    """The upgrade button: a navigation to `page`, the raw payload in the extra fields."""
    b = Builder(ctx).person()
    b.add(event=b.r.event()).course()
    return b.build("NavigationEvent", "NavigatedTo", {"id": b.r.req("page"), "type": "WebPage"})

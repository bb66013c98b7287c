"""Caliper 1.1 course-level events: goals, resume, grading policy, discovery search, completion toggles,
library content and partition assignment.

Objects are addressed by the referer (resume: the payload's `url`). Library
content and partition assignment are done by the LMS, so the actor is the LMS
and the learner appears in the object (`learner`, or the membership's
`member`). Goals switch on the top-level `name`: added, else modified.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx


@CALIPER11.register("edx.course.goal.added", "edx.course.goal.updated")
def course_goal(ctx: Ctx) -> JSON:
    """A learner's goal for the course set or changed."""
    b = Builder(ctx).person().add_context()
    b.add(ip=b.r.raw.get("ip", ""))
    action = "Added" if b.r.opt("name") == "edx.course.goal.added" else "Modified"
    return b.build("Event", action, {"id": b.r.req("referer"), "type": "LearningObjective",
                                     "extensions": b.r.event()})


@CALIPER11.register("edx.course.home.resume_course.clicked")
def resume_course(ctx: Ctx) -> JSON:
    """Resume: a navigation to the section in the payload's `url`."""
    b = Builder(ctx).person()
    extensions = b.r.payload()
    extensions.update(course_id=b.r.ctx("course_id"), org_id=b.take("org_id"))
    url = b.r.field("url")
    del extensions["url"]
    return b.ip().build("NavigationEvent", "NavigatedTo", {"id": url, "type": "CourseSection",
                                                           "extensions": extensions})


@CALIPER11.register("edx.grades.grading_policy_changed")
def grading_policy_changed(ctx: Ctx) -> JSON:
    """The course's grading policy changed: the payload's course id wins over the context's."""
    b = Builder(ctx).person().add_context().ip()
    b.add(course_id=b.r.field("course_id"))
    return b.build("Event", "Modified", {"id": b.r.req("referer"), "type": "CourseOffering",
                                         "extensions": b.r.event()})


@CALIPER11.register("edx.course_discovery.search.initiated", "edx.course_discovery.search.results_displayed")
def discovery_search(ctx: Ctx) -> JSON:
    """A catalogue search started, or its results shown."""
    b = Builder(ctx).person()
    b.add(ip=b.r.opt("ip"), course_id=b.r.ctx("course_id"))
    obj = {"id": b.r.req("referer"), "type": "WebPage", "extensions": b.r.event()}
    if ctx.name == "edx.course_discovery.search.initiated":
        return b.build("Event", "Searched", obj)
    return b.build("ViewEvent", "Viewed", obj)


@CALIPER11.register("edx.done.toggled")
def done_toggled(ctx: Ctx) -> JSON:
    """The "mark as done" tool used: the server payload as is, the browser's parsed."""
    b = Builder(ctx).person().add_context().ip()
    if b.r.opt("event_source") == "server":
        b.drop("session")
        extensions = b.r.event()
    else:
        extensions = b.r.payload()
    return b.build("ToolUseEvent", "Used", {"id": b.r.req("referer"), "type": "SoftwareApplication",
                                            "extensions": extensions})


@CALIPER11.register("edx.librarycontentblock.content.removed")
def library_content_removed(ctx: Ctx) -> JSON:
    """The LMS removed library content from a learner's selection."""
    b = Builder(ctx).lms().add_context().ip()
    b.add(username=b.r.req("username")).drop("session")
    return b.build("Event", "Deleted", {"id": b.r.req("referer"), "type": "AssessmentItem",
                                        "extensions": b.r.event()})


@CALIPER11.register("edx.librarycontentblock.content.assigned")
def library_content_assigned(ctx: Ctx) -> JSON:
    """The LMS assigned library content to a learner, named in the object as `learner`."""
    b = Builder(ctx)
    username = b.r.req("username")
    extensions = b.r.payload()
    extensions["learner"] = {"id": b.actor["id"], "name": username, "type": "Person", "user_id": b.extra["user_id"]}
    b.lms().add(course_id=b.r.ctx("course_id"), course_user_tags=b.r.ctx("course_user_tags"), ip=b.r.req("ip"),
                username=username)
    return b.build("Event", "Linked", {"id": b.r.req("referer"), "type": "Assessment", "extensions": extensions})


@CALIPER11.register("xmodule.partitions.assigned_user_to_partition")
def assigned_to_partition(ctx: Ctx) -> JSON:
    """The LMS put a learner in a content group: a membership of the partition group."""
    b = Builder(ctx)
    referer = b.r.req("referer")
    member = {"id": b.actor["id"], "name": b.r.req("username"), "type": "Person",
              "extensions": {"user_id": b.take("user_id")}}
    obj = {"id": referer, "member": member, "type": "Membership",
           "organization": {"extensions": b.r.event(), "id": referer, "type": "Group"}}
    b.lms().ip().add(course_id=b.r.ctx("course_id"), course_user_tags=b.r.ctx("course_user_tags"))
    return b.build("Event", "Linked", obj)

"""Caliper transformers for enrollment and course completion: an `Event` whose object is the `CourseOffering`.

Enrolling gives `Activated`, unenrolling `Deactivated` and passing a course for
the first time `Completed`. The object is the course itself, so it carries no
`isPartOf`; its only extension is the enrollment mode, when the event has one.
"""

from __future__ import annotations

from stream_app.transforms.caliper.base import JSON, caliper_event
from stream_app.transforms.caliper.registry import CALIPER
from stream_app.transforms.context import Ctx

_ACTIONS = {
    "edx.course.enrollment.activated": "Activated",
    "edx.course.enrollment.deactivated": "Deactivated",
    "edx.course.grade.passed.first_time": "Completed",
}


@CALIPER.register(*_ACTIONS)
def course_offering_event(ctx: Ctx) -> JSON:
    """The course as a `CourseOffering`, named from the course table, with the enrollment mode."""
    # ERB names the course after context.course_id but builds the object id from data.course_id.
    ctx.get("context.course_id", required=True)
    course = ctx.require_course()
    mode = ctx.get("data.mode")
    obj: JSON = {
        "id": ctx.iri("course", ctx.get("data.course_id", required=True)),
        "type": "CourseOffering",
        "name": course.display_name,
        "extensions": None if mode is None else {"mode": mode},
    }
    return caliper_event(ctx, "Event", _ACTIONS[ctx.name], obj)

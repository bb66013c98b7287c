"""xAPI transformers for a learner's standing in a course: enrolment activated, deactivated or changed, and
the course grade passed (first time or again) or failed. The course itself is the object — named under the
`en` key rather than the `en-US` of the usual course parent, with the enrolment mode as its `acrossx type`
extension — so these statements carry no context activities, only the common context extensions.
"""

from __future__ import annotations

from stream_app.transforms.context import Ctx
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, compact, context, statement
from stream_app.transforms.xapi.registry import XAPI

_VERB_BY_NAME = {
    "edx.course.enrollment.activated": "registered",
    "edx.course.enrollment.mode_changed": "registered",
    "edx.course.enrollment.deactivated": "unregistered",
    "edx.course.grade.passed.first_time": "passed",
    "edx.course.grade.now_passed": "passed",
    "edx.course.grade.now_failed": "failed",
}


def _course_object(ctx: Ctx) -> JSON:
    course_id = ctx.get("context.course_id", required=True)
    course = ctx.require_course()
    # ERB builds an empty language map when the course has no display name, and tincan
    # serialises it as `{}` rather than leaving `name` out.
    name = {} if course.display_name is None else {vocab.EN: course.display_name}
    definition: JSON = {
        "type": vocab.ACT_COURSE,
        "name": name,
        # A missing mode leaves `{}`: tincan drops None extension values but keeps the dict.
        "extensions": compact({vocab.EXT_MODE: ctx.get("data.mode")}),
    }
    return {"id": ctx.iri("course", course_id), "objectType": "Activity", "definition": definition}


@XAPI.register(*_VERB_BY_NAME)
def course_standing(ctx: Ctx) -> JSON:
    """Enrolment or course-grade change; the verb follows the event name, the course is the object."""
    return statement(ctx, vocab.verb(_VERB_BY_NAME[ctx.name]), _course_object(ctx), context_=context(ctx, parent=None))

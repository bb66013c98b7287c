"""Caliper 1.1 events of courseware components: polls, surveys, split tests, drag and drop, Google
and Oppia embeds, UBC peer instruction.

All are server events on the referer with the raw payload as the object's
extensions. They differ only in type, action and object type, and in which
context fields CT copies into the extra fields (some the whole context); all
drop `session`. Drag-and-drop feedback instead merges context and payload into
the object, moving `path` back to the extra fields and dropping `user_id`.
"""

from __future__ import annotations

from stream_app.transforms.caliper11.base import JSON, Builder
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError

_WIDGET = ("course_id", "module", "course_user_tags", "asides")
_PEER = ("asides", "course_id", "course_user_tags", "module")
_ALL = ()  # the whole context

# name -> (type, action, object type, context keys copied (() = all), with payload extensions)
_EVENTS: dict[str, tuple[str, str, str, tuple[str, ...], bool]] = {
    "xblock.poll.submitted": ("AssessmentEvent", "Submitted", "Assessment", _WIDGET, True),
    "xblock.survey.submitted": ("AssessmentEvent", "Submitted", "Assessment", _WIDGET, True),
    "xblock.poll.view_results": ("Event", "Viewed", "Result", _WIDGET, False),
    "xblock.survey.view_results": ("Event", "Viewed", "Result", _WIDGET, True),
    "xblock.split_test.child_render": ("ViewEvent", "Viewed", "DigitalResource",
                                       ("course_id", "module", "course_user_tags"), True),
    "edx.googlecomponent.calendar.displayed": ("ViewEvent", "Viewed", "Frame", _WIDGET, True),
    "edx.googlecomponent.document.displayed": ("ViewEvent", "Viewed", "Document", _WIDGET, True),
    "oppia.exploration.loaded": ("Event", "Started", "AssessmentItem", _WIDGET, True),
    "oppia.exploration.state.changed": ("Event", "Modified", "AssessmentItem", _WIDGET, True),
    "oppia.exploration.completed": ("Event", "Completed", "AssessmentItem", _WIDGET, True),
    "ubc.peer_instruction.accessed": ("ViewEvent", "Viewed", "AssignableDigitalResource",
                                      ("asides", "course_id", "course_user_tags"), True),
    "ubc.peer_instruction.original_submitted": ("AssessmentEvent", "Submitted", "Assessment", _PEER, True),
    "ubc.peer_instruction.revised_submitted": ("AssessmentEvent", "Submitted", "Assessment", _PEER, True),
    "edx.drag_and_drop_v2.item.picked_up": ("AssessmentItemEvent", "Started", "AssessmentItem", _ALL, True),
    "edx.drag_and_drop_v2.item.dropped": ("AssessmentItemEvent", "Completed", "AssessmentItem", _ALL, True),
    "edx.drag_and_drop_v2.loaded": ("ViewEvent", "Viewed", "AssessmentItem", _ALL, True),
}


@CALIPER11.register(*_EVENTS)
def component_event(ctx: Ctx) -> JSON:
    """One component interaction."""
    event_type, action, obj_type, keys, with_payload = _EVENTS[ctx.name]
    b = Builder(ctx).person()
    if keys:
        b.ip().add(**{key: b.r.ctx(key) for key in keys})
    else:
        b.add_context().ip()
    b.drop("session")
    obj: JSON = {"id": b.r.req("referer"), "type": obj_type}
    if with_payload:
        obj["extensions"] = b.r.event()
    return b.build(event_type, action, obj)


@CALIPER11.register("edx.drag_and_drop_v2.feedback.opened", "edx.drag_and_drop_v2.feedback.closed")
def dnd_feedback(ctx: Ctx) -> JSON:
    """Feedback shown or closed: context and payload together describe the `Frame`."""
    b = Builder(ctx).person()
    extensions = dict(b.r.context())
    extensions.update(b.r.payload())
    for key in ("path", "user_id"):
        if key not in extensions:
            raise TransformError("missing_field", f"context.{key}")
    b.ip().add(path=extensions.pop("path")).drop("session")
    del extensions["user_id"]
    opened = ctx.name.endswith("opened")
    return b.build("ViewEvent" if opened else "Event", "Viewed" if opened else "Removed",
                   {"id": b.r.req("referer"), "type": "Frame", "extensions": extensions})

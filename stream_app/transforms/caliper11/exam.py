"""Caliper 1.1 special-exam events (timed, practice, proctored): exams and attempts on the referer.

The exam's name becomes the object's `name` and leaves the payload, which is
otherwise kept as the object's extensions. Where CT requires the name (attempt
events) a missing one is a reject; where it tests for it first (exam
definitions, deleted attempts) an empty one stays in the payload. A deleted
attempt also lifts its start and end times out as `startedAtTime`/`endedAtTime`.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.caliper11.base import JSON, Builder, event_time
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx

# name -> (type, action, object type); the exam name is required
_ATTEMPTS: dict[str, tuple[str, str, str]] = {
    "edx.special_exam.timed.attempt.created": ("Event", "Created", "Attempt"),
    "edx.special_exam.practice.attempt.created": ("Event", "Created", "Attempt"),
    "edx.special_exam.timed.attempt.started": ("AssessmentEvent", "Started", "Assessment"),
    "edx.special_exam.timed.attempt.submitted": ("AssessmentEvent", "Submitted", "Assessment"),
    "edx.special_exam.timed.attempt.ready_to_submit": ("NavigationEvent", "NavigatedTo", "WebPage"),
}
# exam definitions: Assessment created or modified; the name is optional
_EXAMS = {f"edx.special_exam.{kind}.{step}": "Created" if step == "created" else "Modified"
          for kind in ("timed", "practice", "proctored") for step in ("created", "updated")}


def _lift(obj: JSON, payload: dict[str, Any], key: str, as_key: str, is_time: bool = False) -> None:
    # CT's `if event.get(key): obj[as_key] = event.pop(key)`: a falsy value stays in the payload.
    value = payload.get(key)
    if value:
        obj[as_key] = event_time(value, f"event.{key}") if is_time else value
        del payload[key]


@CALIPER11.register(*_ATTEMPTS)
def exam_attempt(ctx: Ctx) -> JSON:
    """An attempt created, started, ready to submit or submitted."""
    event_type, action, obj_type = _ATTEMPTS[ctx.name]
    b = Builder(ctx).person()
    b.add(course_id=b.r.ctx("course_id"))
    if ctx.name == "edx.special_exam.timed.attempt.submitted":
        b.add(course_user_tags=b.r.ctx_opt("course_user_tags"))
    b.ip()
    name = b.r.field("exam_name")
    obj = {"id": b.r.req("referer"), "type": obj_type, "name": name, "extensions": b.r.payload_without("exam_name")}
    return b.build(event_type, action, obj)


@CALIPER11.register(*_EXAMS)
def exam_definition(ctx: Ctx) -> JSON:
    """An exam created or changed in Studio."""
    b = Builder(ctx).person().course()
    obj: JSON = {"id": b.r.req("referer"), "type": "Assessment"}
    payload = b.r.payload()
    _lift(obj, payload, "exam_name", "name")
    obj["extensions"] = payload
    return b.build("Event", _EXAMS[ctx.name], obj)


@CALIPER11.register("edx.special_exam.timed.attempt.deleted")
def attempt_deleted(ctx: Ctx) -> JSON:
    """An attempt deleted: name and times lifted out when present."""
    b = Builder(ctx).person().course()
    obj: JSON = {"id": b.r.req("referer"), "type": "Attempt"}
    payload = b.r.payload()
    _lift(obj, payload, "exam_name", "name")
    _lift(obj, payload, "attempt_started_at", "startedAtTime", is_time=True)
    _lift(obj, payload, "attempt_completed_at", "endedAtTime", is_time=True)
    obj["extensions"] = payload
    return b.build("Event", "Deleted", obj)

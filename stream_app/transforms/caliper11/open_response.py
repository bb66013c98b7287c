"""Caliper 1.1 open response assessment (ORA) events: submissions, peer/self/staff grading, feedback.

All are server events on the referer; each copies some courseware context
into the extra fields (`asides`, `course_user_tags`, and either `module` whole
or its `display_name`/`usage_key`) and drops `session`. Grading keeps the
payload with `scored_at` lifted out as the attempt's `dateCreated`; a
submission keeps only its answer fields, with CT's UTC form for its times.
"""

from __future__ import annotations

import orjson

from stream_app.transforms.caliper11.base import JSON, Builder, event_time
from stream_app.transforms.caliper11.legacy import Record
from stream_app.transforms.caliper11.registry import CALIPER11
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError

_WITH_MODULE = ("asides", "course_id", "course_user_tags", "module")


def _ora(ctx: Ctx, keys: tuple[str, ...] = _WITH_MODULE, module_parts: bool = False) -> Builder:
    b = Builder(ctx).person()
    b.add(**{key: b.r.ctx(key) for key in keys})
    if module_parts:
        module = b.r.ctx("module")
        if not isinstance(module, dict):
            raise TransformError("invalid_field", "context.module")
        for key in ("display_name", "usage_key"):
            if key not in module:
                raise TransformError("missing_field", f"context.module.{key}")
            b.add(**{key: module[key]})
    return b.ip().drop("session")


def _saved_response(r: Record) -> object:
    # CT json.loads it: any JSON text is fine, anything else is not.
    raw = r.field("saved_response")
    if not isinstance(raw, (str, bytes)):
        raise TransformError("invalid_field", "event.saved_response")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TransformError("invalid_field", "event.saved_response") from None


@CALIPER11.register("openassessmentblock.peer_assess", "openassessmentblock.self_assess",
                    "openassessmentblock.staff_assess")
def assessed(ctx: Ctx) -> JSON:
    """A peer, self or staff assessment grades the attempt."""
    b = _ora(ctx)
    scored_at = event_time(b.r.field("scored_at"), "event.scored_at")
    obj = {"dateCreated": scored_at, "extensions": b.r.payload_without("scored_at"), "id": b.r.req("referer"),
           "type": "Attempt"}
    return b.build("GradeEvent", "Graded", obj)


@CALIPER11.register("openassessmentblock.create_submission")
def create_submission(ctx: Ctx) -> JSON:
    """A response submitted."""
    b = _ora(ctx)
    r = b.r
    extensions = {
        "answer": r.field("answer"),
        "attempt_number": r.field("attempt_number"),
        "created_at": event_time(r.field("created_at"), "event.created_at"),
        "submission_uuid": r.field("submission_uuid"),
        "submitted_at": event_time(r.field("submitted_at"), "event.submitted_at"),
    }
    return b.build("AssessmentEvent", "Submitted", {"id": r.req("referer"), "type": "Assessment",
                                                    "extensions": extensions})


@CALIPER11.register("openassessment.student_training_assess_example")
def training_example(ctx: Ctx) -> JSON:
    """A training example assessed."""
    b = _ora(ctx)
    extensions = {key: b.r.field(key) for key in ("corrections", "options_selected", "submission_uuid")}
    return b.build("AssessmentEvent", "Submitted", {"id": b.r.req("referer"), "type": "Assessment",
                                                    "extensions": extensions})


@CALIPER11.register("openassessmentblock.get_submission_for_staff_grading")
def staff_grading_view(ctx: Ctx) -> JSON:
    """Staff opened a submission to grade."""
    b = _ora(ctx)
    return b.build("ViewEvent", "Viewed", {"id": b.r.req("referer"), "type": "Assessment",
                                           "extensions": b.r.event()})


@CALIPER11.register("openassessmentblock.get_peer_submission")
def peer_submission_view(ctx: Ctx) -> JSON:
    """A learner got a peer's submission to assess (CT copies no course id here)."""
    b = _ora(ctx, ("asides", "course_user_tags"), module_parts=True)
    return b.build("ViewEvent", "Viewed", {"extensions": b.r.event(), "id": b.r.req("referer"),
                                           "type": "Assessment"})


@CALIPER11.register("openassessmentblock.submit_feedback_on_assessments")
def feedback(ctx: Ctx) -> JSON:
    """Feedback on the assessments received, posted as a message."""
    b = _ora(ctx, ("asides", "course_id", "course_user_tags"), module_parts=True)
    return b.build("MessageEvent", "Posted", {"extensions": b.r.event(), "id": b.r.req("referer"),
                                              "type": "Message"})


@CALIPER11.register("openassessmentblock.save_submission")
def save_submission(ctx: Ctx) -> JSON:
    """A draft response saved."""
    b = _ora(ctx, ("asides", "course_id", "course_user_tags"), module_parts=True)
    obj = {"extensions": {"saved_response": _saved_response(b.r)}, "id": b.r.req("referer"), "type": "Assessment"}
    return b.build("AssessmentEvent", "Paused", obj)


@CALIPER11.register("openassessmentblock.save_files_descriptions")
def save_files_descriptions(ctx: Ctx) -> JSON:
    """Descriptions of uploaded files saved: a document, part of the assessment."""
    b = _ora(ctx)
    referer = b.r.req("referer")
    obj = {"extensions": {"saved_response": _saved_response(b.r)}, "id": referer, "type": "Document",
           "isPartOf": {"id": referer, "type": "Assessment"}}
    return b.build("Event", "Described", obj)

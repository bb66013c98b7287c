"""Caliper transformers for problem interactions: submissions, grading, answers and hints shown, completion.

`problem_check` has two readings: from the browser it is an `AssessmentEvent`
(`Submitted`); from the server it is a `GradeEvent` (`Graded`) on the learner's
`Attempt`, with the score in `generated`. The problem is found in `data`
(`problem_id`, else `module_id`), else in the referer's `activate_block_id`, else
in the `input_<block>_…` string a browser sends as `data`. Like ERB, the other
ids are built by formatting that block id, even when none was found.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.blocks import form_block_id, referer_block_id
from stream_app.transforms.caliper.base import JSON, base_object, caliper_event
from stream_app.transforms.caliper.registry import CALIPER
from stream_app.transforms.context import Ctx

# event key -> (event type, action, object type, object name)
_KINDS: dict[str, tuple[str, str, str, str | None]] = {
    "problem_check": ("AssessmentEvent", "Submitted", "Assessment", None),
    "problem_check_server": ("GradeEvent", "Graded", "Attempt", None),
    "edx.grades.problem.submitted": ("AssessmentEvent", "Submitted", "Assessment", None),
    "showanswer": ("Event", "Viewed", "Annotation", "Solution"),
    "edx.problem.hint.demandhint_displayed": ("Event", "Viewed", "Annotation", "Hint"),
    "edx.problem.completed": ("AssessmentItemEvent", "Completed", "AssessmentItem", None),
}


def problem_block_id(ctx: Ctx, data: dict[str, Any] | None) -> Any:
    """The problem's usage key from data, the referer or the browser's input string (None if nowhere)."""
    if data is not None:
        found = data.get("problem_id", data.get("module_id"))
        if found:
            return found
    # ERB requires the referer only when data names no problem.
    block_id = referer_block_id(ctx.get_str("context.referer", required=True) or "")
    if block_id is None:
        block_id = form_block_id(ctx.get("data"), ctx.get("context.course_id"))
    return block_id


def _score(ctx: Ctx) -> JSON:
    return {
        "id": "_:score",
        "type": "Score",
        "maxScore": ctx.get("max_grade"),
        "scoreGiven": ctx.get("grade"),
        "attempts": ctx.get("attempts"),
        "extensions": {"success": "True" if ctx.get("success") == "correct" else "False"},
    }


@CALIPER.register(*(name for name in _KINDS if name != "problem_check_server"))
def problem_event(ctx: Ctx) -> JSON:
    """One problem interaction; a server-side `problem_check` becomes the graded attempt."""
    key = ctx.name
    if key == "problem_check" and ctx.get("context.event_source") == "server":
        key = "problem_check_server"
    event_type, action, object_type, object_name = _KINDS[key]
    raw_data = ctx.get("data")
    data = raw_data if isinstance(raw_data, dict) else None
    block_id = problem_block_id(ctx, data)
    fields = data or {}  # ERB reads these straight from data; a non-dict data would crash it

    obj = base_object(ctx)
    extra: JSON = {}
    # The f-strings below keep ERB's rendering of a missing value ("None/solution", "/attempt/None").
    if key == "showanswer":
        path = f"{block_id}/solution"
    elif key == "edx.problem.hint.demandhint_displayed":
        path = f"{block_id}/hint/{fields.get('hint_index', '')}"
    elif key == "problem_check_server":
        learner = ctx.external_id("caliper")
        attempts = fields.get("attempts", "")
        path = f"{block_id}/user/{learner}/attempt/{attempts}"
        extensions = obj.setdefault("extensions", {})
        extensions["assignee"] = {"id": ctx.iri("user", learner), "type": "Person"}
        extensions["assignable"] = {"id": ctx.iri("xblock", block_id), "type": "Assessment"}
        extensions["count"] = attempts
        extra["generated"] = {"score": _score(ctx)}
    else:
        path = block_id
    obj["id"] = ctx.iri("xblock", path)
    obj["type"] = object_type
    obj["name"] = object_name
    return caliper_event(ctx, event_type, action, obj, **extra)

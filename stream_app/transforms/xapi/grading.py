"""xAPI transformers for grades the platform calculates: a subsection's and a course's (verb `earned`).

The object is the graded subsection block or the course itself; the result
holds the score (floats, as tincan writes them) and, for the course, the
letter grade. `edx.grades.problem.submitted` is a problem event and lives in
the problem family, as it does in ERB.
"""

from __future__ import annotations

import math
from typing import Any

from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, statement
from stream_app.transforms.xapi.registry import XAPI


def _data(ctx: Ctx) -> dict[str, Any]:
    data = ctx.get("data", required=True)
    if not isinstance(data, dict):
        raise TransformError("invalid_field", "data")
    return data


def _grade_number(data: dict[str, Any], key: str) -> int | float:
    # ERB indexes the key (absent -> KeyError) and then reads null or any falsy value as 0.
    if key not in data:
        raise TransformError("missing_field", f"data.{key}")
    value = data[key] or 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TransformError("invalid_field", f"data.{key}")
    return value


def _score(key: str, **parts: Any) -> JSON:
    # tincan's Score stores every part as a float; one that is not finite cannot be sent.
    try:
        score = {name: float(value) for name, value in parts.items()}
    except OverflowError as exc:
        raise TransformError("invalid_field", key) from exc
    if not all(math.isfinite(value) for value in score.values()):
        raise TransformError("invalid_field", key)
    return score


@XAPI.register("edx.grades.subsection.grade_calculated")
def subsection_graded(ctx: Ctx) -> JSON:
    """A subsection's weighted grade; `success` when everything possible was earned."""
    obj = {"id": ctx.iri("xblock", ctx.get("data.block_id", required=True)), "objectType": "Activity",
           "definition": {"type": vocab.ACT_RESOURCE}}
    data = _data(ctx)
    possible = _grade_number(data, "weighted_total_possible")
    earned = _grade_number(data, "weighted_total_earned")
    try:
        # Divided before any float conversion, as ERB does (exact for large integers).
        scaled = earned / possible if possible > 0 else 0
    except OverflowError as exc:
        raise TransformError("invalid_field", "data.weighted_total_earned") from exc
    score = _score("data.weighted_total_earned", min=0, max=possible, raw=earned, scaled=scaled)
    result = {"success": earned >= possible, "score": score}
    return statement(ctx, vocab.verb("earned"), obj, result=result)


@XAPI.register("edx.grades.course.grade_calculated")
def course_graded(ctx: Ctx) -> JSON:
    """A course grade out of 1.0, with the letter grade (`"Fail"` when there is none)."""
    course_id = ctx.get("context.course_id", required=True)
    display_name = ctx.require_course().display_name
    # ERB always sets a name language map, so a course without a display name gets `"name": {}`.
    obj = {"id": ctx.iri("course", course_id), "objectType": "Activity",
           "definition": {"type": vocab.ACT_COURSE, "name": {} if display_name is None else {vocab.EN: display_name}}}
    percent = _grade_number(_data(ctx), "percent_grade")
    letter = ctx.get("data.letter_grade")
    if not letter:
        letter = "Fail"
    elif not isinstance(letter, str):
        raise TransformError("invalid_field", "data.letter_grade")
    result = {
        "score": _score("data.percent_grade", min=0, max=1.0, raw=percent, scaled=percent),
        # ERB files the letter grade under an activity-type IRI used as a result extension key.
        "extensions": {vocab.ACT_GRADE_CLASSIFICATION: letter},
    }
    return statement(ctx, vocab.verb("earned"), obj, result=result)

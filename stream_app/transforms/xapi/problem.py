"""xAPI transformers for capa problem events: checks, shown answers, hints, completions and graded submissions.

`problem_check` is the rich one. Sent by the browser it only says that the
learner attempted the problem (the block id comes from the referrer or the
form data); sent by the server it is `evaluated`, with score, success and the
learner's response. A server check of a problem with several questions becomes
a `GroupActivity` statement followed by one statement per question (see
`problem_children`). Field reads follow ERB's rules to the letter, including
its mix of exact `data.*` paths and recursive searches; where ERB would crash on
an odd value (a string grade, a list where a dict belongs) the value is left
out, or the event is rejected with a stable reason when nothing useful is left.
"""

from __future__ import annotations

import json
import math
from typing import Any

from stream_app.transforms.blocks import form_block_id, referer_block_id
from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import problem_children, vocab
from stream_app.transforms.xapi.base import JSON, statement
from stream_app.transforms.xapi.registry import XAPI

# capa response type -> xAPI interactionType (anything else, custom and code responses included, is "other").
INTERACTION_TYPES = {
    "choiceresponse": "choice", "multiplechoiceresponse": "choice", "choicetextresponse": "choice",
    "optionresponse": "choice", "numericalresponse": "numeric", "imageresponse": "matching",
    "stringresponse": "fill-in", "formularesponse": "fill-in", "annotationresponse": "fill-in",
    "symbolicresponse": "fill-in", "truefalseresponse": "true-false",
}
OTHER = "other"

_VERBS = {"showanswer": "asked", "edx.problem.hint.demandhint_displayed": "asked",
          "edx.problem.completed": "completed", "edx.grades.problem.submitted": "attempted"}

# Object definition type by event; every other problem event is a cmi.interaction.
# (ERB files the hint activity type under an *extension* IRI; kept, it is the contract.)
_DEFINITION_TYPES = {
    "showanswer": vocab.ACT_SOLUTION,
    "edx.problem.hint.demandhint_displayed": vocab.EXT_SUPPLEMENTAL_INFO,
    "edx.grades.problem.submitted": vocab.ACT_QUESTION,
}


def text(value: Any, key: str) -> str:
    """`str(value)`, as ERB's string formatting does, with Python's int-to-text limit turned into a reason."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, RecursionError) as exc:
        raise TransformError("invalid_field", key) from exc


def block_iri(ctx: Ctx, block_id: Any, key: str) -> str | None:
    """The xblock IRI of a usage key (None stays None)."""
    return None if block_id is None else ctx.iri("xblock", text(block_id, key))


def activity(object_id: str | None, definition: JSON) -> JSON:
    """An Activity; without an id it has no `id` key (the engine then rejects the event, as ERB drops it)."""
    obj: JSON = {"objectType": "Activity", "definition": definition}
    if object_id is not None:
        obj["id"] = object_id
    return obj


def raw_object_id(ctx: Ctx) -> Any:
    """The problem's usage key: `data.problem_id`, else `data.module_id` (required) when data is a dict."""
    # ERB takes `usage_key` (found at context.module.usage_key) only when `data` is not a dict.
    if isinstance(ctx.get("data"), dict):
        return ctx.get("data.problem_id") or ctx.get("data.module_id", required=True)
    return ctx.get("usage_key")


def check_object_id(ctx: Ctx, object_id: Any) -> str | None:
    """The object IRI of a check: browser checks locate the block from referrer or form data."""
    # ERB reads the referrer (required) before looking at the source, so a server check needs one too.
    referer = ctx.get("referer") or ctx.get("context.referer", required=True)
    # The object reads context.event_source first; verb and result read the recursive key first.
    if (ctx.get("context.event_source") or ctx.get("event_source")) == "browser":
        block_id = referer_block_id(referer) or form_block_id(ctx.get("data"), ctx.get("context.course_id"))
        return block_iri(ctx, block_id, "data")
    return block_iri(ctx, object_id, "data.problem_id") if object_id else None


def interaction_type(response_type: Any) -> str:
    """The xAPI interactionType of a capa response type."""
    return INTERACTION_TYPES.get(response_type, OTHER) if isinstance(response_type, str) else OTHER


def _scalar(value: Any) -> bool:
    # An attempt count passes through as is, but only as a value our encoder (orjson: no integers beyond
    # 64 bits) can write; ERB would also pass a list or dict along, which counts nothing.
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    return isinstance(value, (str, float))


def check_definition(ctx: Ctx, submission: dict[str, Any] | None) -> JSON:
    """A check's activity definition: question text (or problem name), interaction type, attempt number."""
    definition: JSON = {}
    if submission:
        kind = interaction_type(submission.get("response_type"))
        question = submission.get("question")
        if isinstance(question, str):  # "" is kept: ERB sends an empty description
            definition["description"] = {vocab.EN_US: question}
    else:
        # Searched only here: the recursive search is costly and a submission's own type wins.
        kind = interaction_type(ctx.get("response_type"))
        display_name = ctx.get("display_name")
        if isinstance(display_name, str):
            definition["name"] = {vocab.EN_US: display_name}
    definition["type"] = vocab.ACT_INTERACTION
    definition["interactionType"] = kind
    attempts = ctx.get("data.attempts")
    if attempts and _scalar(attempts):
        definition["extensions"] = {vocab.EXT_ATTEMPT: attempts}
    # tincan orders a definition name, description, type, interactionType, extensions.
    return definition


def response_text(value: Any) -> str | None:
    """`result.response`: a list as JSON text (ERB's json.dumps form), anything else as `str()`."""
    if value is None:
        return None
    try:
        if isinstance(value, list):
            return json.dumps(value, ensure_ascii=False)
        return text(value, "response")
    except (ValueError, TypeError, RecursionError) as exc:
        raise TransformError("invalid_field", "response") from exc


def _number(value: Any) -> int | float | None:
    # A grade usable the way ERB uses it (compared, divided, then float()ed); anything else is left out.
    if not isinstance(value, (int, float)):
        return None
    try:
        return value if math.isfinite(float(value)) else None
    except OverflowError:
        return None


def _ratio(part: int | float, whole: int | float) -> float | None:
    # Callers divide only by a positive number; int / int can still overflow a float.
    try:
        scaled = float(part / whole)
    except OverflowError:
        return None
    return scaled if math.isfinite(scaled) else None


def score(raw: int | float | None, maximum: int | float | None, scaled: int | float | None) -> JSON:
    """A tincan Score: floats, in tincan's order, None values dropped; min is always 0."""
    out: JSON = {}
    if scaled is not None:
        out["scaled"] = float(scaled)
    if raw is not None:
        out["raw"] = float(raw)
    out["min"] = 0.0
    if maximum is not None:
        out["max"] = float(maximum)
    return out


def first_submission(ctx: Ctx) -> dict[str, Any] | None:
    """The first `data.submission` entry that names its response type (ERB's single-question view)."""
    submissions = ctx.get("data.submission")
    if isinstance(submissions, dict):
        for entry in submissions.values():
            if isinstance(entry, dict) and entry.get("response_type"):
                return entry
    return None


def check_result(ctx: Ctx, submission: dict[str, Any] | None) -> JSON:
    """A server check's result: score from grade/max_grade, success, and the response."""
    if submission:
        response, correct = submission.get("answer"), submission.get("correct")
    else:
        # Before 2014 there was no `submission`; ERB falls back to the raw `answers` value.
        data = ctx.get("data")
        response = data.get("answers") if isinstance(data, dict) else None
        correct = ctx.get("success") == "correct"
    grade, max_grade = _number(ctx.get("grade")), _number(ctx.get("max_grade"))
    scaled: int | float | None = None
    if grade is not None and max_grade is not None:
        scaled = _ratio(grade, max_grade) if max_grade > 0 else 0
    result: JSON = {"score": score(grade, max_grade, scaled)}
    if correct is not None:
        result["success"] = bool(correct)
    answer = response_text(response)
    if answer is not None:
        result["response"] = answer
    return result


def _child_result(ctx: Ctx, submission: dict[str, Any] | None) -> JSON:
    # The parent's result logic on the child's submission, without the score (only the parent has one);
    # the response is the child's answer alone, so a child without a submission sends none.
    result = check_result(ctx, submission)
    del result["score"]
    if not submission:
        result.pop("response", None)
    return result


@XAPI.register("problem_check")
def problem_check(ctx: Ctx) -> JSON | list[JSON]:
    """A problem check; a check of several questions is a group statement plus one per question."""
    # A browser check is only `attempted`, without result.
    browser = (ctx.get("event_source") or ctx.get("context.event_source")) == "browser"
    verb_key = "attempted" if browser else "evaluated"
    submission = first_submission(ctx)
    object_id = raw_object_id(ctx)
    children = problem_children.child_submissions(ctx)
    obj = activity(check_object_id(ctx, object_id), check_definition(ctx, submission))
    if children:
        # The parent of several questions is a group; its own interaction type says nothing.
        obj["objectType"] = "GroupActivity"
        obj["definition"]["interactionType"] = OTHER
    result = None if browser else check_result(ctx, submission)
    parent = statement(ctx, vocab.verb(verb_key), obj, result=result)
    if not children:
        return parent
    parent_key = None if object_id is None else text(object_id, "data.problem_id")
    out = [parent]
    for child_id, child in children:
        child_obj = activity(check_object_id(ctx, problem_children.child_usage_key(parent_key, child_id)),
                             check_definition(ctx, child))
        # ERB crashes on a browser check with several submissions; such a child simply has no result.
        child_result = None if browser else _child_result(ctx, child)
        out.append(problem_children.child_statement(ctx, parent, child_id, vocab.verb(verb_key), child_obj,
                                                    child_result))
    return out


@XAPI.register("showanswer", "edx.problem.hint.demandhint_displayed", "edx.problem.completed")
def problem_event(ctx: Ctx) -> JSON:
    """An answer shown, a hint shown, or a problem completed (the raw usage key is its object id)."""
    # The default id is read even when replaced: ERB then requires data.problem_id or data.module_id.
    object_id: Any = raw_object_id(ctx)
    if ctx.name == "showanswer":
        object_id = f"{block_iri(ctx, ctx.get('problem_id', required=True), 'problem_id')}/answer"
    elif ctx.name == "edx.problem.hint.demandhint_displayed":
        module_iri = block_iri(ctx, ctx.get("module_id", required=True), "module_id")
        object_id = f"{module_iri}/hint/{text(ctx.get('hint_index', required=True), 'hint_index')}"
    elif object_id is not None:
        object_id = text(object_id, "data.problem_id")
    obj = activity(object_id, {"type": _DEFINITION_TYPES.get(ctx.name, vocab.ACT_INTERACTION)})
    return statement(ctx, vocab.verb(_VERBS[ctx.name]), obj)


def _weight(ctx: Ctx, key: str) -> int | float:
    data = ctx.get("data")
    field = key.split(".", 1)[1]
    if not isinstance(data, dict) or field not in data:
        raise TransformError("missing_field", key)  # ERB crashes on a missing key (null means 0)
    value = ctx.get(key)
    number = _number(value)
    if value is not None and number is None:
        raise TransformError("invalid_field", key)  # the grade is the whole statement: nothing to send
    return number or 0


@XAPI.register("edx.grades.problem.submitted")
def problem_submitted(ctx: Ctx) -> JSON:
    """A graded problem submission: weighted earned/possible as the score."""
    possible = _weight(ctx, "data.weighted_possible")
    earned = _weight(ctx, "data.weighted_earned")
    scaled = _ratio(earned, possible) if possible > 0 else 0
    if scaled is None:
        raise TransformError("invalid_field", "data.weighted_earned")
    obj = activity(block_iri(ctx, raw_object_id(ctx), "data.problem_id"), {"type": vocab.ACT_QUESTION})
    result = {"score": score(earned, possible, scaled), "success": earned >= possible}
    return statement(ctx, vocab.verb("attempted"), obj, result=result)

"""xAPI transformers for special exam attempts (timed, practice and proctored; created and submitted): the
exam is the object, typed by its kind, and the attempt is a `grouping` context activity. As in ERB, both
ids are the raw values from the event — the exam's usage key and the attempt code — not LMS IRIs.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, compact, context, statement
from stream_app.transforms.xapi.registry import XAPI

_EXAM_TYPE = {
    "timed": vocab.ACT_TIMED_ASSESSMENT,
    "practice": vocab.ACT_PRACTICE_ASSESSMENT,
    "proctored": vocab.ACT_PROCTORED_ASSESSMENT,
}
_VERB = {"created": "initialized", "submitted": "terminated"}


def _fields_root(ctx: Ctx) -> str:
    """Where the exam fields live: ERB reads `event.*`, the tracking-log key.

    Live event-tracking events carry the same dict as `data` and no `event` key; ERB then finds no
    exam id and drops the statement. Its intent is plain, so we read `data` when there is no `event` dict.
    """
    return "event" if isinstance(ctx.event.raw.get("event"), dict) else "data"


def _activity_id(value: Any, key: str) -> str | None:
    """tincan stringifies a scalar activity id; a dict or list cannot be one."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise TransformError("invalid_field", key)


def _name(exam_name: str | None) -> JSON | None:
    # ERB crashes on a missing exam name (tincan refuses a None language value); we leave the name out.
    return None if exam_name is None else {vocab.EN: exam_name}


def _exam_statement(ctx: Ctx, kind: str, action: str) -> JSON:
    root = _fields_root(ctx)
    exam_name = ctx.get_str(f"{root}.exam_name")
    content_key = f"{root}.exam_content_id"
    definition = compact({
        "type": _EXAM_TYPE[kind],
        "name": _name(exam_name),
        # tincan drops None extension values but keeps the extensions dict itself, even empty.
        "extensions": compact({vocab.EXT_TIME_LIMIT: ctx.get(f"{root}.exam_default_time_limit_mins")}),
    })
    obj = compact({
        "id": _activity_id(ctx.get(content_key), content_key),
        "objectType": "Activity",
        "definition": definition,
    })
    out = context(ctx)
    code_key = f"{root}.attempt_code"
    attempt_code = _activity_id(ctx.get(code_key), code_key)
    # ERB sends an id-less attempt activity (an invalid statement) when the code is missing; we omit it.
    if attempt_code is not None:
        attempt_definition = compact({
            "type": vocab.ACT_EXAM_ATTEMPT,
            "name": _name(exam_name),
            "extensions": compact({
                vocab.EXT_ATTEMPT_STARTED: ctx.get(f"{root}.attempt_started_at"),
                vocab.EXT_ATTEMPT_COMPLETED: ctx.get(f"{root}.attempt_completed_at"),
                vocab.EXT_DURATION: ctx.get(f"{root}.attempt_event_elapsed_time_secs"),
                vocab.EXT_ATTEMPT: ctx.get(f"{root}.attempt_id"),
            }),
        })
        attempt = {"id": attempt_code, "objectType": "Activity", "definition": attempt_definition}
        # ERB assumes a course parent exists here and crashes without one; we add the grouping alone.
        out.setdefault("contextActivities", {})["grouping"] = [attempt]
    return statement(ctx, vocab.verb(_VERB[action]), obj, context_=out)


@XAPI.register(
    "edx.special_exam.timed.attempt.created",
    "edx.special_exam.timed.attempt.submitted",
    "edx.special_exam.practice.attempt.created",
    "edx.special_exam.practice.attempt.submitted",
    "edx.special_exam.proctored.attempt.created",
    "edx.special_exam.proctored.attempt.submitted",
)
def exam_attempt(ctx: Ctx) -> JSON:
    """An exam attempt started (`initialized`) or submitted (`terminated`); the event name gives kind and verb."""
    _, _, kind, _, action = ctx.name.split(".")
    return _exam_statement(ctx, kind, action)

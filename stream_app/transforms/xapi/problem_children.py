"""The per-question statements of a multi-question `problem_check` (ERB's one-to-many transform).

A check whose `submission` holds more than one question gives, after the parent
`GroupActivity` statement, one statement per question. The submission key
(`<block>_2_1`) identifies a child: it replaces the part of the parent's usage
key after the last `@`, and it salts the child's statement id. A child points
back at its parent with a StatementRef, names the parent activity as its parent
and the course as its grouping, and carries no score (only the parent knows
it). This module only assembles those pieces; `problem` builds the objects and
results, so both levels share one definition of them. It registers nothing.
"""

from __future__ import annotations

from typing import Any

from stream_app.transforms.context import Ctx
from stream_app.transforms.xapi.base import JSON, context_extensions, statement


def child_submissions(ctx: Ctx) -> list[tuple[str, dict[str, Any] | None]]:
    """`(submission key, entry)` per question when there are several; [] for a single question."""
    # ERB finds `submission` by recursive search here (the parent reads the exact `data.submission`).
    submissions = ctx.get("submission")
    if not isinstance(submissions, dict) or len(submissions) < 2:
        return []
    # JSON keys are strings; an entry that is not a dict is treated as an absent one.
    return [(key, entry if isinstance(entry, dict) else None) for key, entry in submissions.items()
            if isinstance(key, str)]


def child_usage_key(parent_key: str | None, child_id: str) -> str:
    """The parent's usage key with its last `@` part replaced by the submission key."""
    return "@".join([*(parent_key or "").split("@")[:-1], child_id])


def child_statement(ctx: Ctx, parent: JSON, child_id: str, verb: JSON, obj: JSON, result: JSON | None) -> JSON:
    """One question's statement, linked to the parent statement it follows."""
    activities: JSON = {"parent": [parent["object"]]}
    parent_activities = parent["context"].get("contextActivities")
    if parent_activities:
        # The parent's course activity becomes the child's grouping (ERB crashes without a course).
        activities["grouping"] = parent_activities["parent"]
    context_ = {
        "contextActivities": activities,
        "statement": {"id": parent["id"], "objectType": "StatementRef"},
        "extensions": context_extensions(ctx),
    }
    return statement(ctx, verb, obj, result=result, context_=context_, child_id=child_id)

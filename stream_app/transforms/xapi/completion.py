"""xAPI transformer for block completion changes (`edx.completion.block_completion.changed`, verb `progressed`).

The object is the block whose completion changed; the result carries the
completion as a percentage (cmi5 progress) and `completion: true` once the
block is fully complete.
"""

from __future__ import annotations

import math

from stream_app.transforms.context import Ctx
from stream_app.transforms.errors import TransformError
from stream_app.transforms.xapi import vocab
from stream_app.transforms.xapi.base import JSON, statement
from stream_app.transforms.xapi.registry import XAPI

_INT64 = 2**63


@XAPI.register("edx.completion.block_completion.changed")
def block_completion_changed(ctx: Ctx) -> JSON:
    """A learner's completion of one block changed."""
    # ERB multiplies whatever it finds by 100: a missing value crashes it and a
    # string would be repeated 100 times, so only a real number is accepted.
    completion = ctx.get("data.completion", required=True)
    if isinstance(completion, bool) or not isinstance(completion, (int, float)):
        raise TransformError("invalid_field", "data.completion")
    progress = completion * 100
    unusable = not math.isfinite(progress) if isinstance(progress, float) else abs(progress) >= _INT64
    if unusable:
        # inf is not JSON, and an integer past 64 bits cannot be serialised downstream.
        raise TransformError("invalid_field", "data.completion")
    obj = {"id": ctx.iri("xblock", ctx.get("data.block_id")), "objectType": "Activity",
           "definition": {"type": vocab.ACT_RESOURCE}}
    result = {"completion": completion == 1.0, "extensions": {vocab.EXT_PROGRESS: progress}}
    return statement(ctx, vocab.verb("progressed"), obj, result=result)
